import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import {
  argmax,
  IRIS_TEST_SET,
  IRIS_TRAIN_SET,
  predictProbabilities,
  trainIrisClassifier,
} from '../../triton-image/scripts/models/iris';

interface InferResponse {
  model_name: string;
  outputs: { name: string; datatype: string; shape: number[]; data: number[] }[];
}

describe('iris classifier through the local API', () => {
  let platform: PlatformProcess;
  let token: string;

  const infer = (inputs: unknown) =>
    fetch(`${platform.apiUrl}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ inputs }),
    });
  const featuresInput = (rows: readonly { features: readonly number[] }[], shape = [rows.length, 4]) => [
    { name: 'FEATURES', shape, datatype: 'FP32', data: rows.flatMap((r) => r.features) },
  ];

  beforeAll(async () => {
    platform = await startPlatformProcess();
    token = await platformToken();
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it('returns the species the offline evaluation predicts for every held-out row', async () => {
    // The build script's own forward pass: the platform must serve exactly the model it evaluated.
    const weights = trainIrisClassifier(IRIS_TRAIN_SET);
    const expected = IRIS_TEST_SET.map((r) => argmax(predictProbabilities(weights, r.features)));

    const response = await infer(featuresInput(IRIS_TEST_SET));

    expect(response.status).toBe(200);
    const body = (await response.json()) as InferResponse;
    expect(body.model_name).toBe('iris');
    const label = body.outputs.find((o) => o.name === 'LABEL');
    expect(label).toMatchObject({ datatype: 'INT64', shape: [IRIS_TEST_SET.length, 1] });
    expect(label!.data).toEqual(expected);
    const correct = expected.filter((predicted, i) => predicted === IRIS_TEST_SET[i]!.label).length;
    expect(correct / IRIS_TEST_SET.length).toBeGreaterThanOrEqual(0.9);
    const probabilities = body.outputs.find((o) => o.name === 'PROBABILITIES');
    expect(probabilities).toMatchObject({ datatype: 'FP32', shape: [IRIS_TEST_SET.length, 3] });
  });

  it('answers 400 JSON naming FEATURES for rows of three measurements', async () => {
    const rows = IRIS_TEST_SET.slice(0, 2).map((r) => ({ features: r.features.slice(0, 3) }));

    const response = await infer(featuresInput(rows, [2, 3]));

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: expect.stringContaining('FEATURES') });
  });
});
