import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { listenOnLoopback } from '../loopback';
import { requestUrl } from '../request-target';

export interface SecretsManagerEmulator {
  readonly url: string;
  readonly port: number;
  /**
   * A new value for a secret as a finished rotation leaves it: the new version is AWSCURRENT and the
   * version that was AWSCURRENT is AWSPREVIOUS; older versions keep no label.
   */
  rotate(secretId: string, value: string): void;
  close(): Promise<void>;
}

interface SecretVersion {
  readonly versionId: string;
  readonly value: string;
  stages: string[];
}

/**
 * The one Secrets Manager read the platform makes, GetSecretValue, in both forms: the AWS JSON 1.1
 * protocol the SDK speaks, and the AWS Parameters and Secrets Lambda extension's local HTTP API
 * (`GET /secretsmanager/get?secretId=...&versionStage=...` with the session token header), which the
 * authorizer uses. A read names a staging label (AWSCURRENT when none is given); a label no version
 * carries is ResourceNotFoundException, as Secrets Manager answers. Handlers find it through the
 * same variables they read in AWS.
 */
export async function startSecretsManager(
  secrets: Record<string, string>,
  port = 0,
): Promise<SecretsManagerEmulator> {
  const versions = new Map<string, SecretVersion[]>(
    Object.entries(secrets).map(([id, value]) => [
      id,
      [{ versionId: randomUUID(), value, stages: ['AWSCURRENT'] }],
    ]),
  );
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = (status: number, body: object) => {
        res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      const url = requestUrl(req.url);
      if (!url) return reply(400, { message: 'the request target is not a URL' });
      if (req.method === 'GET' && url.pathname === '/secretsmanager/get') {
        // The extension answers only callers that show the function's session token.
        if (!req.headers['x-aws-parameters-secrets-token']) {
          return reply(401, { message: 'missing X-Aws-Parameters-Secrets-Token' });
        }
        return answer(url.searchParams.get('secretId'), url.searchParams.get('versionStage') ?? undefined);
      }
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        return reply(400, { __type: 'UnsupportedOperation', message: 'only GetSecretValue is emulated' });
      }
      let request: { SecretId?: unknown; VersionStage?: unknown };
      try {
        request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(400, { __type: 'InvalidRequestException', message: 'body is not JSON' });
      }
      answer(request.SecretId, request.VersionStage);

      function answer(secretId: unknown, versionStage: unknown = 'AWSCURRENT') {
        const secret = typeof secretId === 'string' ? versions.get(secretId) : undefined;
        if (!secret) {
          return reply(400, {
            __type: 'ResourceNotFoundException',
            message: "Secrets Manager can't find the specified secret.",
          });
        }
        const version = secret.find((v) => v.stages.includes(String(versionStage)));
        if (!version) {
          return reply(400, {
            __type: 'ResourceNotFoundException',
            message: `Secrets Manager can't find the specified secret value for staging label: ${String(versionStage)}`,
          });
        }
        reply(200, {
          ARN: secretId,
          Name: String(secretId).split(':').pop(),
          SecretString: version.value,
          VersionId: version.versionId,
          VersionStages: version.stages,
          CreatedDate: 0,
        });
      }
    });
  });
  const { url, port: bound } = await listenOnLoopback(server, port);
  return {
    url,
    port: bound,
    rotate(secretId, value) {
      const secret = versions.get(secretId);
      if (!secret) throw new Error(`no secret ${secretId}`);
      for (const version of secret) {
        version.stages = version.stages.includes('AWSCURRENT')
          ? ['AWSPREVIOUS']
          : version.stages.filter((stage) => stage !== 'AWSPREVIOUS');
      }
      secret.push({ versionId: randomUUID(), value, stages: ['AWSCURRENT'] });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
