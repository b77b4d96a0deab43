import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

/**
 * Every run saves its screenshot under .local/ (ignored by git); `UPDATE_SCREENSHOT=1` writes the
 * README's copy instead, so a test run never dirties the tree.
 */
const SCREENSHOT = fileURLToPath(
  new URL(
    process.env.UPDATE_SCREENSHOT ? '../../docs/images/local-console.png' : '../../.local/local-console.png',
    import.meta.url,
  ),
);
const ITEMS = 40;

const simpleInputs = (i: number, shape = [1, 16]) => [
  { name: 'INPUT0', shape, datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
  { name: 'INPUT1', shape, datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
];
const irisInputs = [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }];

describe('local console (npm start, Chromium)', () => {
  let platform: PlatformProcess;
  let token: string;
  let browser: Browser;
  let page: Page;

  const call = async (path: string, json: unknown, method = 'POST') => {
    const response = await fetch(`${platform.apiUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(json),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const statValue = async (key: string) =>
    Number((await page.locator(`[data-stat="${key}"]`).getAttribute('data-value')) || 0);

  beforeAll(async () => {
    [platform, browser] = await Promise.all([
      startPlatformProcess(),
      chromium.launch({ executablePath: '/usr/bin/chromium', headless: true }),
    ]);
    token = await platformToken();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    await platform?.stop();
  });

  it('serves its data as JSON next to the page', async () => {
    const models = (await (await fetch(`${platform.consoleUrl}/api/models`)).json()) as {
      models: { name: string; versions: { version: string; status: string }[] }[];
    };
    expect(models.models.map((m) => m.name)).toEqual(expect.arrayContaining(['iris', 'simple']));
    expect(models.models.find((m) => m.name === 'simple')?.versions[0]).toMatchObject({
      version: '1',
      status: 'ACTIVE',
    });
    const metrics = (await (await fetch(`${platform.consoleUrl}/api/metrics`)).json()) as { times: number[] };
    expect(metrics.times.length).toBeGreaterThan(0);
    expect((await fetch(`${platform.consoleUrl}/api/nothing`)).status).toBe(404);
  });

  it('shows the models, a batch job running to completion and the traffic with its errors', async () => {
    // Arrange: the page is open before the traffic, so it sees the job move
    const pageErrors: Error[] = [];
    page.on('pageerror', (error) => pageErrors.push(error));
    await page.goto(`${platform.consoleUrl}/?range=60`);

    // Act
    const alias = await call(
      '/v1/models/simple/aliases/prod',
      { routes: [{ version: '1', weight: 100 }] },
      'PUT',
    );
    const submitted = await call('/v1/batch-jobs', {
      model: 'simple',
      items: Array.from({ length: ITEMS }, (_, i) => ({ id: `item-${i}`, inputs: simpleInputs(i) })),
    });
    const realtime = await Promise.all([
      ...Array.from({ length: 12 }, (_, i) => call('/v2/models/simple/infer', { inputs: simpleInputs(i) })),
      ...Array.from({ length: 4 }, () => call('/v2/models/iris/infer', { inputs: irisInputs })),
      // Wrong shape: a 400 before any backend call.
      ...Array.from({ length: 3 }, () =>
        call('/v2/models/simple/infer', { inputs: simpleInputs(0, [1, 8]) }),
      ),
    ]);

    // Steady traffic while the job runs, a wrong shape now and then, so the charts have a shape.
    let running = true;
    const background = (async () => {
      for (let i = 0; running; i++) {
        if (i % 6 === 5) await call('/v2/models/simple/infer', { inputs: simpleInputs(0, [1, 8]) });
        else if (i % 3 === 0) await call('/v2/models/iris/infer', { inputs: irisInputs });
        else await call('/v2/models/simple/infer', { inputs: simpleInputs(i) });
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();

    // Assess
    expect(alias.status).toBe(200);
    expect(submitted.status).toBe(202);
    expect(realtime.map((r) => r.status).sort()).toEqual([...Array(16).fill(200), 400, 400, 400]);
    await page.locator('#models [data-model="iris"]').waitFor();
    await page.locator('#models [data-model="simple"]').waitFor();

    const row = page.locator(`[data-job-id="${String(submitted.body.jobId)}"]`);
    await row.waitFor();
    await expect
      .poll(() => row.locator('[data-field="status"]').textContent(), { timeout: 30_000, interval: 250 })
      .toBe('SUCCEEDED');
    await expect.poll(() => row.locator('[data-field="percent"]').textContent()).toContain('100%');
    expect(await row.locator('[data-field="percent"]').getAttribute('data-percent')).toBe('100');
    running = false;
    await background;
    await page.locator('[data-model="simple"] [data-alias="prod"]').waitFor({ timeout: 10_000 });

    // The handlers' EMF lines reach the charts: every realtime request and the submission.
    await expect.poll(() => statValue('requests'), { timeout: 10_000 }).toBeGreaterThanOrEqual(20);
    await expect.poll(() => statValue('client-errors'), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await expect.poll(() => statValue('batch-items'), { timeout: 10_000 }).toBeGreaterThanOrEqual(ITEMS);
    expect(await page.locator('svg[data-chart="requests"] rect').count()).toBeGreaterThan(0);
    expect(await page.locator('svg[data-chart="errors"] rect').count()).toBeGreaterThan(0);
    expect(
      await page.locator('svg[data-chart="latency"] path, svg[data-chart="latency"] circle').count(),
    ).toBeGreaterThan(0);
    expect(pageErrors).toEqual([]);

    // Let one more poll land, then keep the picture for the README.
    await page.waitForTimeout(1200);
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
  });

  it('shows a job of an uploaded input file like the others, marked as keeping its results in S3', async () => {
    const lines = `${Array.from({ length: ITEMS }, (_, i) => JSON.stringify({ inputs: simpleInputs(i) })).join('\n')}\n`;
    const upload = await call('/v1/batch-inputs', { size: Buffer.byteLength(lines) });
    expect(upload.status).toBe(200);
    const put = await fetch(String(upload.body.url), {
      method: 'PUT',
      headers: upload.body.headers as Record<string, string>,
      body: lines,
    });
    expect(put.status).toBe(200);
    const submitted = await call('/v1/batch-jobs', { model: 'simple', inputs: [upload.body.inputId] });
    expect(submitted.status).toBe(202);

    await page.goto(`${platform.consoleUrl}/?range=60`);
    const row = page.locator(`[data-job-id="${String(submitted.body.jobId)}"]`);
    await row.waitFor();
    await expect
      .poll(() => row.locator('[data-field="status"]').textContent(), { timeout: 30_000, interval: 250 })
      .toBe('SUCCEEDED');
    expect(await row.locator('[data-field="model"]').textContent()).toBe('simple v1 · results in S3');
    await expect
      .poll(() => row.locator('[data-field="percent"]').textContent())
      .toBe(`${ITEMS}/${ITEMS} · 100%`);
  });
});
