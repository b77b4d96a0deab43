import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const ones = Array.from({ length: 16 }, () => 1);
const INFER_BODY = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ones },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ones },
  ],
});
const FAILURE_THRESHOLD = 5; // cdk.json circuitFailureThreshold

describe('failover and circuit breakers through the local platform', () => {
  let platform: PlatformProcess;
  let token: string;

  const infer = () =>
    fetch(`${platform.apiUrl}/v2/models/resilient/infer`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: INFER_BODY,
    });
  const faults = (method: 'GET' | 'POST' | 'DELETE', body?: object) =>
    fetch(`${platform.modelServerUrl}/local/faults`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    }).then((r) => r.json() as Promise<{ faults?: { endpoint?: string; failNext: number }[] }>);
  const remainingFailures = async (endpoint: string) =>
    (await faults('GET')).faults?.find((f) => f.endpoint === endpoint)?.failNext;

  beforeAll(async () => {
    platform = await startPlatformProcess();
    token = await platformToken({ sub: 'resilience', tier: 'premium' });
    // A version served by two backends: the primary and a standby with the same models.
    const registered = await fetch(`${platform.apiUrl}/v1/models`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'resilient',
        version: '1',
        platform: 'onnxruntime_onnx',
        ...SIMPLE_SIGNATURE,
        backends: [
          { endpointName: 'local-triton', targetModel: 'simple.tar.gz', weight: 99 },
          { endpointName: 'local-triton-standby', targetModel: 'simple.tar.gz', weight: 1 },
        ],
      }),
    });
    expect(registered.status).toBe(201);
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it('answers every request through the standby while the primary fails, and stops calling the primary once its circuit opens', async () => {
    // Prepare: the primary's container fails every call
    await faults('POST', { endpoint: 'local-triton', failNext: 1000, failStatus: 0 });
    // Act
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await infer()).status);
    // Assess: no client saw the failures, and the primary was called only until its circuit opened
    expect(statuses).toEqual(Array(15).fill(200));
    expect(await remainingFailures('local-triton')).toBe(1000 - FAILURE_THRESHOLD);
  });

  it('answers 503 with Retry-After, without calling anything, once every backend circuit is open', async () => {
    // Prepare: the standby fails too, until its circuit opens as well
    await faults('POST', { endpoint: 'local-triton-standby', failNext: 1000, failStatus: 507 });
    const statuses: number[] = [];
    for (let i = 0; i < FAILURE_THRESHOLD; i++) statuses.push((await infer()).status);
    expect(statuses).toEqual(Array(FAILURE_THRESHOLD).fill(502));
    const before = await remainingFailures('local-triton-standby');
    // Act
    const response = await infer();
    // Assess
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await response.json()).toEqual({ error: expect.stringContaining('resilient') });
    expect(await remainingFailures('local-triton-standby')).toBe(before);
    await faults('DELETE');
  });
});
