import type { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { decodeInferenceRequest } from '../../functions/inference/codec';
import type { InputTensor } from '../../functions/inference/protocol';

/** The inputs of an InvokeEndpoint call as Triton reads them: JSON, or binary+json by its content type. */
export function invocationInputs(command: InvokeEndpointCommand): InputTensor[] {
  const { Body, ContentType } = command.input;
  return decodeInferenceRequest({
    body: Body as Uint8Array,
    headers: ContentType ? { 'content-type': ContentType } : {},
  }).request.inputs;
}
