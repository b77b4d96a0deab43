import type { ModelSignature } from '../../../contracts/model-signature';
import type { WarmUpInput, WarmUpMessage } from '../../../contracts/model-warmup';
import type { ModelConfig } from '../../../contracts/triton/gen/model_config_pb';
import { toV2Datatype } from '../../../contracts/triton/model-config';

/**
 * The warm-up inference of a pushed version: the config's first `model_warmup` sample when it has
 * one (its `batch_size` leads the shape of a batching model; `zero_data` and `random_data` as
 * stated; an `input_data_file` is sent as zeros, since the archive's file stays in the store), else
 * one request of zeros built from the signature, every variable dimension 1.
 */
export function warmUpSample(
  signature: ModelSignature,
  config: Pick<ModelConfig, 'modelWarmup'>,
): Pick<WarmUpMessage, 'inputs' | 'source'> {
  const [sample] = config.modelWarmup;
  if (sample && Object.keys(sample.inputs).length > 0) {
    const batch = signature.maxBatchSize > 0 ? [Math.max(sample.batchSize, 1)] : [];
    const inputs = Object.entries(sample.inputs).map(
      ([name, input]): WarmUpInput => ({
        name,
        datatype: toV2Datatype(input.dataType),
        shape: [...batch, ...input.dims.map(Number)],
        fill: input.inputDataType.case === 'randomData' ? 'random' : 'zero',
      }),
    );
    return { inputs, source: 'model_warmup' };
  }
  return {
    inputs: signature.inputs.map((tensor) => ({
      name: tensor.name,
      datatype: tensor.datatype,
      shape: tensor.shape.map((dim) => (dim < 0 ? 1 : dim)),
      fill: 'zero',
    })),
    source: 'signature',
  };
}
