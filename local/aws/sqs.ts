import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  QueueAttributeName,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { LOOPBACK } from '../loopback';

export interface LocalSqs {
  /** The endpoint SQS clients are given. */
  readonly url: string;
  /** A client of this emulator, closed with it. */
  readonly client: SQSClient;
  /** Creates a queue through the SQS API, as a deployment would. */
  createQueue(
    name: string,
    attributes?: Record<string, string>,
  ): Promise<{ queueUrl: string; queueArn: string }>;
  close(): Promise<void>;
}

/**
 * fauxqs in memory on the loopback address. Its `startFauxqs` always listens on 0.0.0.0 (its
 * `host` option names the host in queue URLs, not the address to bind), so the app is built with
 * `buildApp` and listened on here.
 */
export async function startSqs(options: { region: string; port?: number }): Promise<LocalSqs> {
  // Queue URLs read `http://sqs.<region>.127.0.0.1:<port>/...`: clients reach the queues through `url`.
  const app = buildApp({ logger: false, host: LOOPBACK });
  const url = await app.listen({ port: options.port ?? 0, host: LOOPBACK });
  const client = new SQSClient({
    endpoint: url,
    region: options.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    url,
    client,
    async createQueue(name, attributes) {
      const { QueueUrl: queueUrl } = await client.send(
        new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
      );
      const { Attributes } = await client.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [QueueAttributeName.QueueArn] }),
      );
      const queueArn = Attributes?.QueueArn;
      if (!queueUrl || !queueArn)
        throw new Error(`the SQS emulator created queue ${name} without a URL or ARN`);
      return { queueUrl, queueArn };
    },
    async close() {
      client.destroy();
      await app.close();
    },
  };
}
