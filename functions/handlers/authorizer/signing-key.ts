/**
 * The HS256 signing key, read from Secrets Manager through the AWS Parameters and Secrets Lambda
 * extension: a local HTTP call that needs no AWS SDK in the bundle (the SDK was two thirds of the
 * authorizer's cold start), cached by the extension in each execution environment.
 */
export interface ExtensionKeyOptions {
  readonly secretId: string;
  /** The extension's port (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT). @default 2773 */
  readonly port?: number;
  /** The function's session token, which the extension takes as proof of the caller. */
  readonly sessionToken: string;
  /**
   * How long a container reuses a key it read. With the extension's own cache
   * (SECRETS_MANAGER_TTL) this bounds how long a rotated-out key is trusted.
   * @default SIGNING_KEY_CACHE_TTL_MS
   */
  readonly cacheTtlMs?: number;
}

/** A container rereads the key this often, so a rotation reaches it within a minute (plus the extension's TTL). */
export const SIGNING_KEY_CACHE_TTL_MS = 60_000;

export class SigningKeyUnavailableError extends Error {}

/** The two keys a rotation leaves valid: the one tokens are signed with now, and the one before it. */
export interface SigningKeys {
  readonly current: () => Promise<Uint8Array>;
  /** Undefined until the secret's first rotation, when no version carries AWSPREVIOUS. */
  readonly previous: () => Promise<Uint8Array | undefined>;
}

/** Reads each key at most once per TTL per container; a failed read is retried on the next request. */
export function signingKeysFromExtension(options: ExtensionKeyOptions): SigningKeys {
  const read = async (versionStage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<Uint8Array | undefined> => {
    const url =
      `http://localhost:${options.port ?? 2773}/secretsmanager/get` +
      `?secretId=${encodeURIComponent(options.secretId)}&versionStage=${versionStage}`;
    const response = await fetch(url, {
      headers: { 'X-Aws-Parameters-Secrets-Token': options.sessionToken },
      // Short of the function's 10 s timeout, so a hung extension is reported, not a timed-out function.
      signal: AbortSignal.timeout(8_000),
    });
    const text = await response.text();
    if (versionStage === 'AWSPREVIOUS' && isMissingVersion(response.status)) return undefined;
    if (!response.ok) {
      throw new SigningKeyUnavailableError(
        `secret ${options.secretId} (${versionStage}): ${response.status} ${text.slice(0, 200)}`,
      );
    }
    const { SecretString } = JSON.parse(text) as { SecretString?: unknown };
    if (typeof SecretString !== 'string' || SecretString.length === 0) {
      throw new SigningKeyUnavailableError(
        `secret ${options.secretId} (${versionStage}) has no string value`,
      );
    }
    return new TextEncoder().encode(SecretString);
  };
  const ttlMs = options.cacheTtlMs ?? SIGNING_KEY_CACHE_TTL_MS;
  return {
    current: cached(async () => (await read('AWSCURRENT'))!, ttlMs),
    previous: cached(() => read('AWSPREVIOUS'), ttlMs),
  };
}

/**
 * Secrets Manager answers GetSecretValue for a staging label no version carries with
 * ResourceNotFoundException, a 400; what body the extension passes on is not documented, so any 4xx
 * of the AWSPREVIOUS read counts as no previous key. A 4xx of another cause (access denied) fails the
 * AWSCURRENT read as well, which is reported; a 5xx or no answer is a failure here too.
 */
function isMissingVersion(status: number): boolean {
  return status >= 400 && status < 500;
}

function cached<T>(read: () => Promise<T>, ttlMs: number): () => Promise<T> {
  let entry: { value: Promise<T>; readAt: number } | undefined;
  return () => {
    if (!entry || Date.now() - entry.readAt >= ttlMs) {
      const value = read();
      entry = { value, readAt: Date.now() };
      value.catch(() => {
        if (entry?.value === value) entry = undefined;
      });
    }
    return entry.value;
  };
}
