import type { ModelSignature } from '../../contracts/model-signature';
import type { ModelVersion } from '../../contracts/registry-schemas';

/** The signature of the shipped `simple` model (Triton's add/sub example), as its config.pbtxt states it. */
export const SIMPLE_SIGNATURE: ModelSignature = {
  inputs: [
    { name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] },
    { name: 'INPUT1', datatype: 'INT32', shape: [-1, 16] },
  ],
  outputs: [
    { name: 'OUTPUT0', datatype: 'INT32', shape: [-1, 16] },
    { name: 'OUTPUT1', datatype: 'INT32', shape: [-1, 16] },
  ],
  maxBatchSize: 8,
};

/** `simple` version 1, active on the endpoint `triton` by its archive: what registry-backed tests register. */
export const SIMPLE_VERSION: ModelVersion = {
  name: 'simple',
  version: '1',
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: 'triton', targetModel: 'simple.tar.gz', weight: 100 }],
  status: 'ACTIVE',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};
