/** The `simple` model's inputs (two 1x16 INT32 tensors) as binary tensors, for the bench and load runs. */
export function simpleBinaryRequest(
  input: readonly number[],
  options: { readonly binaryOutputs: boolean },
): { body: Buffer; headerLength: number } {
  const tensor = Buffer.from(new Int32Array(input).buffer);
  const header = Buffer.from(
    JSON.stringify({
      inputs: ['INPUT0', 'INPUT1'].map((name) => ({
        name,
        shape: [1, 16],
        datatype: 'INT32',
        parameters: { binary_data_size: tensor.length },
      })),
      ...(options.binaryOutputs
        ? { outputs: ['OUTPUT0', 'OUTPUT1'].map((name) => ({ name, parameters: { binary_data: true } })) }
        : {}),
    }),
  );
  return { body: Buffer.concat([header, tensor, tensor]), headerLength: header.length };
}
