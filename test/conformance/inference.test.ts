/**
 * The inference cases of cases.ts against all three targets of one local platform (`npm start`):
 * the model server's Triton port, InvokeEndpoint on the same server, and the platform's API.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { asServedBySageMaker, CLASSIFICATION_CASES, GET_CASES, INFER_CASES, meets } from './cases';
import { apiTarget, sageMakerTarget, TARGETS, type Target, type TargetName, tritonTarget } from './targets';

let platform: PlatformProcess;
const targets = new Map<TargetName, Target>();

beforeAll(async () => {
  platform = await startPlatformProcess();
  targets.set('triton', tritonTarget(platform.modelServerUrl));
  targets.set('sagemaker', sageMakerTarget(platform.modelServerUrl));
  targets.set('api', apiTarget(platform.apiUrl, await platformToken()));
});

afterAll(async () => {
  await platform?.stop();
});

describe.each(TARGETS)('inference conformance: %s', (name) => {
  for (const c of [...INFER_CASES, ...CLASSIFICATION_CASES]) {
    const difference = c.differs?.[name];
    const expectation =
      difference !== undefined
        ? difference.expect
        : name === 'sagemaker'
          ? asServedBySageMaker(c.expect, c.call.model)
          : c.expect;
    const title = `${c.name} [${c.source}]`;
    if (expectation === undefined) {
      it.skip(`${title} (not for this target: ${difference!.why})`, () => {});
      continue;
    }
    it(title, async () => {
      meets(await targets.get(name)!.infer(c.call), expectation);
    });
  }
});

// After the inference cases, so that statistics have executions to report.
describe.each(TARGETS)('/v2 routes: %s', (name) => {
  for (const c of GET_CASES) {
    const title = `${c.name} [${c.source}]`;
    if (!c.targets.includes(name)) {
      it.skip(`${title} (not for this target: ${c.why ?? 'SageMaker Runtime has only InvokeEndpoint'})`, () => {});
      continue;
    }
    it(title, async () => {
      meets(await targets.get(name)!.get!(c.path), c.expect);
    });
  }
});
