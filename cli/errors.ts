/** Errors the CLI reports and the exit code each one ends the process with. */

/** Exit codes: 0 ok, 1 a request or the job failed, 2 the command line or its input files are wrong. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The command line or an input file is wrong; nothing was sent. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The command whose `--help` the message points to, e.g. `batch submit`. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** A request failed, the platform could not be reached, or a job did not succeed. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** A non-2xx answer from the API, with what its body says about why. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly apiMessage: string,
    readonly requestId: string | undefined,
    readonly code?: string,
    readonly details?: unknown,
  ) {
    super(
      [
        `HTTP ${status}${code ? ` ${code}` : ''}: ${apiMessage}`,
        ...(details === undefined ? [] : [`details: ${JSON.stringify(details)}`]),
        ...(requestId ? [`X-Request-Id: ${requestId}`] : []),
      ].join('\n'),
    );
  }
}
