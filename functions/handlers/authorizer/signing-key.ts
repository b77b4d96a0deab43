/**
 * The HS256 signing key, read from Secrets Manager through the AWS Parameters and Secrets Lambda
 * extension: a local HTTP call that needs no AWS SDK in the bundle (the SDK was two thirds of the
 * authorizer's cold start) and is cached by the extension across containers' reads.
 */
export interface ExtensionKeyOptions {
  readonly secretId: string;
  /** The extension's port (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT). @default 2773 */
  readonly port?: number;
  /** The function's session token, which the extension takes as proof of the caller. */
  readonly sessionToken: string;
}

export class SigningKeyUnavailableError extends Error {}

/** Reads the key once per container; a failed read is retried on the next request. */
export function signingKeyFromExtension(options: ExtensionKeyOptions): () => Promise<Uint8Array> {
  const url = `http://localhost:${options.port ?? 2773}/secretsmanager/get?secretId=${encodeURIComponent(options.secretId)}`;
  let pending: Promise<Uint8Array> | undefined;
  const read = async () => {
    const response = await fetch(url, {
      headers: { 'X-Aws-Parameters-Secrets-Token': options.sessionToken },
      // Short of the function's 10 s timeout, so a hung extension is reported, not a timed-out function.
      signal: AbortSignal.timeout(8_000),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new SigningKeyUnavailableError(
        `secret ${options.secretId}: ${response.status} ${text.slice(0, 200)}`,
      );
    }
    const { SecretString } = JSON.parse(text) as { SecretString?: unknown };
    if (typeof SecretString !== 'string' || SecretString.length === 0) {
      throw new SigningKeyUnavailableError(`secret ${options.secretId} has no string value`);
    }
    return new TextEncoder().encode(SecretString);
  };
  return () => {
    pending ??= read().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
