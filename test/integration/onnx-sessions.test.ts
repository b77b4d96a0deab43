import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OnnxSession, type OnnxTensor, openOnnxSession } from '../../local/model-server/onnx-sessions';
import { loadModelRepository, modelFilePath } from '../../triton-image/model-repository';
import { DEFAULT_REPOSITORY_DIR } from '../../triton-image/scripts/build-models';

const OPTIONS = { executionProviders: ['cpu'], logSeverityLevel: 3 } as const;
const WIDTH = 16;

const int32 = (values: number[]): OnnxTensor => ({
  type: 'int32',
  data: Int32Array.from(values),
  dims: [1, WIDTH],
});

describe('onnxruntime sessions on their own thread', () => {
  let modelPath: string;
  let dir: string;

  beforeAll(async () => {
    const models = await loadModelRepository(DEFAULT_REPOSITORY_DIR);
    const simple = models.find((m) => m.name === 'simple')!;
    modelPath = modelFilePath(simple, simple.latestVersion);
    dir = await mkdtemp(path.join(tmpdir(), 'onnx-sessions-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sumOf = async (session: OnnxSession, a: number[], b: number[]) => {
    const outputs = await session.run({ INPUT0: int32(a), INPUT1: int32(b) }, ['OUTPUT0']);
    return Array.from(outputs.OUTPUT0!.data as Int32Array);
  };
  const ones = Array.from({ length: WIDTH }, () => 1);
  const counting = Array.from({ length: WIDTH }, (_, i) => i);

  it('runs a model and answers with its outputs, reading inputs that are views of a larger buffer', async () => {
    const session = await openOnnxSession(modelPath, OPTIONS);
    try {
      const body = new Int32Array(WIDTH * 3).fill(5);
      const view = body.subarray(WIDTH, WIDTH * 2);
      view.set(counting);
      const outputs = await session.run({ INPUT0: { ...int32(ones), data: view }, INPUT1: int32(ones) }, [
        'OUTPUT0',
        'OUTPUT1',
      ]);
      expect(outputs.OUTPUT0).toMatchObject({ type: 'int32', dims: [1, WIDTH] });
      expect(Array.from(outputs.OUTPUT0!.data as Int32Array)).toEqual(counting.map((i) => i + 1));
      expect(Array.from(outputs.OUTPUT1!.data as Int32Array)).toEqual(counting.map((i) => i - 1));
    } finally {
      await session.release();
    }
  });

  it("rejects a file that is not a model with onnxruntime's message", async () => {
    const file = path.join(dir, 'not-a-model.onnx');
    await writeFile(file, 'not protobuf');
    await expect(openOnnxSession(file, OPTIONS)).rejects.toThrow(/protobuf|parse|load/i);
  });

  it('rejects a run with inputs the model does not have, and the session keeps running', async () => {
    const session = await openOnnxSession(modelPath, OPTIONS);
    try {
      await expect(session.run({ NOT_AN_INPUT: int32(ones) }, ['OUTPUT0'])).rejects.toThrow(
        /NOT_AN_INPUT|input/i,
      );
      expect(await sumOf(session, ones, ones)).toEqual(ones.map(() => 2));
    } finally {
      await session.release();
    }
  });

  it('refuses runs of a released session, and opens sessions again after every one was released', async () => {
    const first = await openOnnxSession(modelPath, OPTIONS);
    await first.release();
    await expect(sumOf(first, ones, ones)).rejects.toThrow(/session was released/);

    // The thread ended with its last session; the next session starts another.
    const second = await openOnnxSession(modelPath, OPTIONS);
    try {
      expect(await sumOf(second, counting, counting)).toEqual(counting.map((i) => i * 2));
    } finally {
      await second.release();
    }
  });

  it('answers the runs sent before a release, then releases', async () => {
    const session = await openOnnxSession(modelPath, OPTIONS);
    const runs = [sumOf(session, ones, ones), sumOf(session, counting, ones)];
    const released = session.release();
    expect(await Promise.all(runs)).toEqual([ones.map(() => 2), counting.map((i) => i + 1)]);
    await released;
  });

  it('runs the requests of many sessions at once, each answered with its own outputs', async () => {
    const sessions = await Promise.all(Array.from({ length: 4 }, () => openOnnxSession(modelPath, OPTIONS)));
    try {
      const sums = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          sumOf(
            sessions[i % sessions.length]!,
            counting,
            ones.map(() => i),
          ),
        ),
      );
      sums.forEach((sum, i) => {
        expect(sum).toEqual(counting.map((c) => c + i));
      });
    } finally {
      await Promise.all(sessions.map((s) => s.release()));
    }
  });
});
