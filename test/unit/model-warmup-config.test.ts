import { describe, expect, it } from 'vitest';
import { type ArchiveEntry, checkModelArchive } from '../../contracts/triton/model-archive';
import { describeModel, parseModelConfig } from '../../contracts/triton/model-config';

/** A config of inputs A [4] FP32 (a shape tensor [-1, 4]) and B [-1] INT32, one sample `s` of `warmup`. */
const config = (warmup: string, { maxBatchSize = 8, optionalB = false, shapeTensor = false } = {}) =>
  parseModelConfig(`name: "m"
platform: "tensorrt_plan"
max_batch_size: ${maxBatchSize}
input [
  { name: "A" data_type: TYPE_FP32 dims: [ ${shapeTensor ? '-1, ' : ''}4 ] is_shape_tensor: ${shapeTensor} },
  { name: "B" data_type: TYPE_INT32 dims: [ -1 ] optional: ${optionalB} }
]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
model_warmup [ { name: "s" batch_size: 2 ${warmup} } ]`);
const configText = (warmup: string) =>
  `name: "m"
platform: "tensorrt_plan"
max_batch_size: 8
input [
  { name: "A" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "B" data_type: TYPE_INT32 dims: [ -1 ] }
]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
model_warmup [ { name: "s" batch_size: 2 ${warmup} } ]`;
const A = 'inputs { key: "A" value: { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } }';
const B = 'inputs { key: "B" value: { data_type: TYPE_INT32 dims: [ 3 ] random_data: true } }';
const load = (text: ReturnType<typeof config>) => () => describeModel(text, 'm');

describe("Triton's load check of model_warmup", () => {
  it.each([
    [
      'a variable-size dimension',
      `${A} ${B.replace('[ 3 ]', '[ -1 ]')}`,
      /all variable-size dimensions must be specified for input 'B', got \[-1\]/,
    ],
    [
      'a negative dimension',
      `${A} ${B.replace('[ 3 ]', '[ -2 ]')}`,
      /input 'B' contains an invalid dimension \[-2\]/,
    ],
    [
      'no input_data_type',
      `${A} inputs { key: "B" value: { data_type: TYPE_INT32 dims: [ 3 ] } }`,
      /input 'B' must set input_data_type/,
    ],
    ['a missing required input', A, /expected 2 inputs but got 1; missing required input\(s\) 'B'/],
    [
      'another data type',
      `${A.replace('TYPE_FP32', 'TYPE_FP16')} ${B}`,
      /input 'A' data-type is TYPE_FP16, but the model expects TYPE_FP32/,
    ],
    [
      'dims other than the fixed ones',
      `${A.replace('[ 4 ]', '[ 1000000000 ]')} ${B}`,
      /unexpected shape for input 'A': expected \[4\], got \[1000000000\]/,
    ],
    [
      'another rank',
      `${A.replace('[ 4 ]', '[ 1, 4 ]')} ${B}`,
      /unexpected shape for input 'A': expected \[4\], got \[1, 4\]/,
    ],
  ])('refuses a sample with %s, naming the sample and the input', (_, warmup, message) => {
    expect(load(config(warmup))).toThrow(new RegExp(`^model_warmup sample 's': ${message.source}`));
  });

  it('accepts a sample that fills wildcards, gives no optional input, or adds a control input', () => {
    const control = 'inputs { key: "START" value: { data_type: TYPE_BOOL dims: [ 1 ] zero_data: true } }';
    expect(load(config(`${A} ${B} ${control}`))).not.toThrow();
    expect(load(config(A, { optionalB: true, maxBatchSize: 0 }))).not.toThrow();
  });

  it('counts required inputs as Triton does: by number, not by name', () => {
    // B optional and given, A required and missing: two given against one required.
    expect(load(config(B, { optionalB: true, maxBatchSize: 0 }))).not.toThrow();
  });

  it('skips a sample of batch size 0, as Triton does', () => {
    const skipped = config(A.replace('[ 4 ]', '[ 7 ]'));
    skipped.modelWarmup[0]!.batchSize = 0;
    expect(load(skipped)).not.toThrow();
  });

  it("gives a batching model's shape tensor the batch dimension of 1 Triton prepares it with", () => {
    const shapeTensor = (dims: string) => config(`${A.replace('[ 4 ]', dims)} ${B}`, { shapeTensor: true });
    expect(load(shapeTensor('[ 4 ]'))).not.toThrow();
    expect(load(shapeTensor('[ 1, 4 ]'))).toThrow(
      /unexpected shape for input 'A': expected \[-1, 4\], got \[1, 4\]/,
    );
  });
});

describe("Triton's load check of model_warmup files, in an archive", () => {
  /** The archive of model `m` with `files` under it, its sample reading A from `file`. */
  const archive = (file: string, files: Record<string, number>, batchSize = 2): ArchiveEntry[] => {
    const text = configText(
      `inputs { key: "A" value: { data_type: TYPE_FP32 dims: [ 4 ] input_data_file: "${file}" } } ${B}`,
    ).replace('batch_size: 2', `batch_size: ${batchSize}`);
    return [
      { path: 'm/config.pbtxt', type: 'file', data: new TextEncoder().encode(text) },
      { path: 'm/1/model.plan', type: 'file', size: 10 },
      ...Object.entries(files).map(([path, size]): ArchiveEntry => ({ path, type: 'file', size })),
    ];
  };

  it('accepts a file of the warmup folder holding at least the bytes the dims take', () => {
    // A: 4 FP32 elements, 16 bytes; Triton reads the first of a longer file.
    expect(() => checkModelArchive(archive('a.bin', { 'm/warmup/a.bin': 16 }))).not.toThrow();
    expect(() => checkModelArchive(archive('d/a.bin', { 'm/warmup/d/a.bin': 64 }))).not.toThrow();
  });

  it.each([
    ['a file the archive lacks', 'a.bin', {}, /reads warmup\/a\.bin, which is not a file of m\/warmup\//],
    [
      'a file outside the warmup folder',
      '../1/model.plan',
      {},
      /reads warmup\/\.\.\/1\/model\.plan, which is not a file/,
    ],
    [
      'a file shorter than the dims take',
      'a.bin',
      { 'm/warmup/a.bin': 15 },
      /reads warmup\/a\.bin, which holds 15 bytes; the input's dims take 16/,
    ],
  ])('refuses a sample reading %s, naming the sample and the input', (_, file, files, message) => {
    expect(() => checkModelArchive(archive(file, files))).toThrow(
      new RegExp(`^m/config.pbtxt: model_warmup sample 's': input 'A' ${message.source}`),
    );
  });

  it('skips the file of a sample of batch size 0, as Triton does', () => {
    expect(() => checkModelArchive(archive('a.bin', {}, 0))).not.toThrow();
  });
});
