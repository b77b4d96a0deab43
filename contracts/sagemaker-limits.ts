/**
 * InvokeEndpoint's payload limit: 6 MB of request body ("InvokeEndpoint", SageMaker API reference),
 * counted here as 6 MiB. SageMaker's front door answers a larger body with a bare 413; the inference
 * function holds a compressed request to it once inflated, since the endpoint gets it inflated.
 */
export const SAGEMAKER_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * How long SageMaker waits for a container to answer an invocation before it reports no answer
 * (status 0): 60 s (the containers' inference contract, "How Your Container Should Respond to
 * Inference Requests"). A caller that must hear SageMaker's own answer waits a little longer
 * (`BACKEND_WAIT_MS`); the local model server ends a longer wait here.
 */
export const SAGEMAKER_CONTAINER_TIMEOUT_MS = 60_000;

/** A wait for InvokeEndpoint that outlasts the container's, so SageMaker answers first. */
export const BACKEND_WAIT_MS = SAGEMAKER_CONTAINER_TIMEOUT_MS + 1_000;
