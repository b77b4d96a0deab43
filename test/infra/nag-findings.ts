import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { vi } from 'vitest';

export interface NagFinding {
  readonly ruleName: string;
  readonly constructPath: string;
}

/**
 * Synthesizes the app `build` makes (into a fresh output folder) under cdk-nag's AwsSolutions pack
 * and returns every unacknowledged finding, read from the validation report.
 */
export function nagFindings(build: (outdir: string) => App): NagFinding[] {
  const outdir = mkdtempSync(path.join(tmpdir(), 'cdk-nag-'));
  const app = build(outdir);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  // The validation framework prints its report; the JSON copy is what is read.
  const quiet = [
    vi.spyOn(console, 'error').mockImplementation(() => undefined),
    vi.spyOn(console, 'log').mockImplementation(() => undefined),
  ];
  try {
    app.synth();
  } catch (error) {
    // Findings fail synthesis; the report file is written before the error is thrown.
    if (!(error instanceof Error) || !error.message.includes('validation-report.json')) throw error;
  } finally {
    for (const spy of quiet) spy.mockRestore();
  }
  const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
  };
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((v) =>
      v.violatingConstructs.map((c) => ({ ruleName: v.ruleName, constructPath: c.constructPath })),
    ),
  );
}
