import type { ModelSignature } from '../../../contracts/model-signature';
import {
  type WarmUpInput,
  type WarmUpMessage,
  warmUpDataBytes,
  warmUpRequestBytes,
} from '../../../contracts/model-warmup';
import { SAGEMAKER_MAX_PAYLOAD_BYTES } from '../../../contracts/sagemaker-limits';
import type { ModelConfig } from '../../../contracts/triton/gen/model_config_pb';
import { ModelConfigError, toV2Datatype } from '../../../contracts/triton/model-config';

type WarmUpSample = Pick<WarmUpMessage, 'inputs' | 'source'>;

/**
 * The warm-up inference of a pushed version: the config's first `model_warmup` sample that Triton
 * runs when it has one (Triton skips a sample of batch_size 0: `GenerateWarmupData`,
 * src/backend_model_instance.cc in triton-inference-server/core; its `batch_size` leads the shape of
 * a batching model, at most `max_batch_size`: Triton runs a sample as `batch_size` requests of one
 * row each, so a sample may name more rows than one request may hold, which an endpoint refuses;
 * `zero_data` and `random_data` as stated; an `input_data_file` is sent as zeros,
 * since the archive's file stays in the store), else one request of zeros built from the signature,
 * every variable dimension 1. A ModelConfigError refuses one the warm-up cannot send: a request
 * over the 6 MiB InvokeEndpoint accepts, sized before anything is built.
 */
export function warmUpSample(
  signature: ModelSignature,
  config: Pick<ModelConfig, 'modelWarmup'>,
): WarmUpSample {
  const sample = config.modelWarmup.find((s) => s.batchSize > 0);
  if (sample && Object.keys(sample.inputs).length > 0) {
    const named = `model_warmup sample '${sample.name}'`;
    const batch = signature.maxBatchSize > 0 ? [Math.min(sample.batchSize, signature.maxBatchSize)] : [];
    const inputs = Object.entries(sample.inputs).map(
      ([name, input]): WarmUpInput => ({
        name,
        datatype: inConfig(`${named}: input '${name}'`, () => toV2Datatype(input.dataType)),
        shape: [...batch, ...input.dims.map(Number)],
        fill: input.inputDataType.case === 'randomData' ? 'random' : 'zero',
      }),
    );
    return sendable({ inputs, source: 'model_warmup' }, named);
  }
  const inputs = signature.inputs.map(
    (tensor): WarmUpInput => ({
      name: tensor.name,
      datatype: tensor.datatype,
      shape: tensor.shape.map((dim) => (dim < 0 ? 1 : dim)),
      fill: 'zero',
    }),
  );
  return sendable({ inputs, source: 'signature' }, "the warm-up built from the model's inputs");
}

function sendable(sample: WarmUpSample, named: string): WarmUpSample {
  const bytes = warmUpRequestBytes(sample.inputs);
  if (bytes > SAGEMAKER_MAX_PAYLOAD_BYTES) {
    const largest = sample.inputs.reduce((a, b) => (warmUpDataBytes(b) > warmUpDataBytes(a) ? b : a));
    throw new ModelConfigError(
      `${named}: its warm-up request would take up to ${bytes} bytes, over the ${SAGEMAKER_MAX_PAYLOAD_BYTES} InvokeEndpoint accepts; input '${largest.name}' of shape [${largest.shape.join(', ')}] takes ${warmUpDataBytes(largest)} of them`,
    );
  }
  return sample;
}

function inConfig<T>(named: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new ModelConfigError(`${named}: ${(error as Error).message}`);
  }
}
