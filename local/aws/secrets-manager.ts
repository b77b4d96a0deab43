import { createServer } from 'node:http';
import { listenOnLoopback } from '../loopback';

export interface SecretsManagerEmulator {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The one Secrets Manager read the platform makes, GetSecretValue, in both forms: the AWS JSON 1.1
 * protocol the SDK speaks, and the AWS Parameters and Secrets Lambda extension's local HTTP API
 * (`GET /secretsmanager/get?secretId=...` with the session token header), which the authorizer
 * uses. Handlers find it through the same variables they read in AWS.
 */
export async function startSecretsManager(
  secrets: Record<string, string>,
  port = 0,
): Promise<SecretsManagerEmulator> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = (status: number, body: object) => {
        res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'GET' && url.pathname === '/secretsmanager/get') {
        // The extension answers only callers that show the function's session token.
        if (!req.headers['x-aws-parameters-secrets-token']) {
          return reply(401, { message: 'missing X-Aws-Parameters-Secrets-Token' });
        }
        return answer(url.searchParams.get('secretId'));
      }
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        return reply(400, { __type: 'UnsupportedOperation', message: 'only GetSecretValue is emulated' });
      }
      let secretId: unknown;
      try {
        secretId = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId?: unknown }).SecretId;
      } catch {
        return reply(400, { __type: 'InvalidRequestException', message: 'body is not JSON' });
      }
      answer(secretId);

      function answer(secretId: unknown) {
        const value = typeof secretId === 'string' ? secrets[secretId] : undefined;
        if (value === undefined) {
          return reply(400, {
            __type: 'ResourceNotFoundException',
            message: "Secrets Manager can't find the specified secret.",
          });
        }
        reply(200, {
          ARN: secretId,
          Name: String(secretId).split(':').pop(),
          SecretString: value,
          VersionId: 'local',
          VersionStages: ['AWSCURRENT'],
          CreatedDate: 0,
        });
      }
    });
  });
  const { url, port: bound } = await listenOnLoopback(server, port);
  return {
    url,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
