/**
 * InvokeEndpoint's payload limit: 6 MB of request body ("InvokeEndpoint", SageMaker API reference),
 * counted here as 6 MiB. SageMaker's front door answers a larger body with a bare 413; the inference
 * function holds a compressed request to it once inflated, since the endpoint gets it inflated.
 */
export const SAGEMAKER_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
