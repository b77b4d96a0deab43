import { defineConfig } from 'vitest/config';
import { longestFirst } from './test/setup/sequencer';

/**
 * The suite runs in three groups, one after the other (see "Test suite layout and time" in
 * docs/architecture-notes.md). First the files that mostly compute (unit, infra, fidelity,
 * integration), one per core. Then the files that start a whole local platform and mostly wait on
 * it (e2e, conformance): each starts its own on port 0, so several run side by side, but not beside
 * the synthesis-heavy infra files, whose CPU use would stretch their timings. Last, one at a time,
 * the files whose checks are timings (a 3 s backend timeout met by cold starts, a request rate, a
 * batch job seen through a browser within 30 s) or that take a core of their own (the browser).
 */
const COMPUTE_WORKERS = 2;
/**
 * Platforms side by side. Each mostly waits on timers, polls and redeliveries (\`dead-lettered-chunk\`
 * waits two and a half minutes for five), so with four the two cores sat partly idle; with six they
 * stay busy, and the group took 282 s against 374 s.
 */
const PLATFORM_WORKERS = 6;
const TIMING_SENSITIVE = [
  'test/e2e/faults.test.ts',
  'test/e2e/load.test.ts',
  'test/e2e/console.test.ts',
  // Counts calls to the primary while its circuit opens: failed once beside other platforms, passes alone.
  'test/e2e/resilience.test.ts',
];

/**
 * Files that each take a minute or more, each group's longest first: with no cache of earlier
 * results (a clean clone), they start first so that none is left running alone at its group's end.
 */
const LONG_RUNNING = [
  // In the order of their times in a clean-clone CI run (2 cores).
  'test/e2e/dead-lettered-chunk.test.ts',
  'test/e2e/batch-lifecycle.test.ts',
  'test/e2e/model-push.test.ts',
  'test/e2e/faults.test.ts',
  'test/e2e/batch.test.ts',
  'test/e2e/batch-outage.test.ts',
  'test/e2e/batch-throttling.test.ts',
  'test/e2e/worker-crashes.test.ts',
  'test/e2e/registry-and-edge.test.ts',
  'test/e2e/restart.test.ts',
  'test/e2e/process.test.ts',
  'test/e2e/cli.test.ts',
  'test/e2e/fuzz.test.ts',
  'test/e2e/security.test.ts',
  'test/e2e/rate-limit.test.ts',
  'test/e2e/batch-inputs.test.ts',
  'test/integration/batch-crash-points.test.ts',
  'test/integration/batch.test.ts',
  'test/infra/cdk-synth.test.ts',
];

export default defineConfig({
  test: {
    sequence: { sequencer: longestFirst(LONG_RUNNING) },
    // Handlers log and emit metrics as in Lambda; tests assert on behaviour, not on that output.
    env: {
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    globalSetup: ['test/setup/signing-secret.ts', 'test/setup/function-builds.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Some build or load models; beside another file on a busy machine 5 s is not enough.
          testTimeout: 30_000,
          maxWorkers: COMPUTE_WORKERS,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'infra',
          // Files share their worker's modules, so each configuration is synthesized once per worker
          // (test/infra/platform-app.ts) and aws-cdk-lib is loaded once.
          isolate: false,
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: COMPUTE_WORKERS,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
          maxWorkers: COMPUTE_WORKERS,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // What the emulators encode about AWS, checked against the synthesized template.
        test: {
          name: 'fidelity',
          // Files share their worker's modules, so each configuration is synthesized once per worker
          // (test/infra/platform-app.ts) and aws-cdk-lib is loaded once.
          isolate: false,
          include: ['test/fidelity/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: COMPUTE_WORKERS,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Cases taken from Triton's, the v2 protocol's and AWS's own sources, run against the local platform.
        test: {
          name: 'conformance',
          include: ['test/conformance/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: PLATFORM_WORKERS,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: TIMING_SENSITIVE,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: PLATFORM_WORKERS,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'e2e-alone',
          include: TIMING_SENSITIVE,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
