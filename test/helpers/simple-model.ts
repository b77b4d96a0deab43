import type { ModelSignature } from '../../contracts/model-signature';

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
