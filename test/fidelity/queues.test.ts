import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBatchQueues } from '../../local/batch-queues';
import { type LocalPlatform, startLocalPlatform } from '../../local/platform';
import { synthesizePlatform } from '../infra/platform-app';

/**
 * The batch queues the local platform creates against the ones the stack synthesizes from the same
 * cdk.json. Equal: the redrive count, the event sources' batch sizes, the worker's maximum
 * concurrency, the consumers' timeouts and every queue's visibility timeout, six of its consumer's
 * timeouts (Lambda's guidance, https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html). */

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

const STACK_QUEUES = {
  submissions: 'BatchSubmissionsQueue',
  submissionsDeadLetters: 'BatchSubmissionsDeadLetterQueue',
  work: 'BatchWorkQueue',
  workDeadLetters: 'BatchWorkDeadLetterQueue',
} as const;
const LOCAL_QUEUES = {
  submissions: 'inference-platform-batch-submissions',
  submissionsDeadLetters: 'inference-platform-batch-submissions-dlq',
  work: 'inference-platform-batch-work',
  workDeadLetters: 'inference-platform-batch-work-dlq',
} as const;
type Queue = keyof typeof STACK_QUEUES;

/** The consumer of each queue, by the logical id prefix of its function in the stack. */
const CONSUMERS: Record<Queue, { fn: string; local: 'fanOut' | 'worker' | 'deadLetters' }> = {
  submissions: { fn: 'BatchFanOutFunction', local: 'fanOut' },
  work: { fn: 'BatchWorkerFunction', local: 'worker' },
  submissionsDeadLetters: { fn: 'BatchDeadLettersFunction', local: 'deadLetters' },
  workDeadLetters: { fn: 'BatchDeadLettersFunction', local: 'deadLetters' },
};
const LOCAL_SOURCES = {
  submissions: 'submissions',
  work: 'work',
  submissionsDeadLetters: 'deadLetters',
  workDeadLetters: 'deadLetters',
} as const;

/**
 * SQS's default and largest `MaximumMessageSize` (the SQS API reference for CreateQueue, as in
 * @aws-sdk/client-sqs's model; raised from 256 KiB in 2025).
 */
const SQS_DEFAULT_MAX_MESSAGE_BYTES = 1_048_576;

/** Lambda asks for a visibility timeout of at least six times the consuming function's timeout. */
const VISIBILITY_TIMEOUT_FACTOR = 6;

describe('batch queues, deployed and local', () => {
  let template: Template;
  let resources: Resources;
  let platform: LocalPlatform;
  let sqs: SQSClient;
  const local: Partial<Record<Queue, Record<string, string>>> = {};

  const idOf = (type: string, prefix: string) => {
    const ids = Object.keys(resources).filter((id) => resources[id]!.Type === type && id.startsWith(prefix));
    expect(ids).toHaveLength(1);
    return ids[0]!;
  };
  const stackQueue = (queue: Queue) => resources[idOf('AWS::SQS::Queue', STACK_QUEUES[queue])]!.Properties;
  const stackSource = (queue: Queue) => {
    const queueId = idOf('AWS::SQS::Queue', STACK_QUEUES[queue]);
    const mappings = Object.values(resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::EventSourceMapping' &&
        JSON.stringify(r.Properties.EventSourceArn) === JSON.stringify({ 'Fn::GetAtt': [queueId, 'Arn'] }),
    );
    expect(mappings).toHaveLength(1);
    return mappings[0]!.Properties;
  };
  const stackTimeoutSeconds = (queue: Queue) =>
    resources[idOf('AWS::Lambda::Function', CONSUMERS[queue].fn)]!.Properties.Timeout as number;

  beforeAll(async () => {
    ({ template } = synthesizePlatform());
    resources = template.toJSON().Resources;
    platform = await startLocalPlatform({ apiPort: 0, tritonPort: 0, consolePort: 0 });
    sqs = new SQSClient({
      endpoint: platform.sqsUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({}));
    for (const [queue, name] of Object.entries(LOCAL_QUEUES) as [Queue, string][]) {
      const url = QueueUrls.find((u) => u.endsWith(`/${name}`));
      if (!url) throw new Error(`the local platform created no queue ${name}`);
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
      );
      local[queue] = Attributes;
    }
  }, 120_000);

  afterAll(async () => {
    sqs?.destroy();
    await platform?.close();
  });

  it.each(['submissions', 'work'] as const)(
    'redrives the %s queue after the same number of receives',
    (queue) => {
      const deployed = (stackQueue(queue).RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount;
      const redrive = JSON.parse(local[queue]!.RedrivePolicy!) as { maxReceiveCount: number };

      expect(redrive.maxReceiveCount).toBe(deployed);
      expect(deployed).toBeGreaterThanOrEqual(5);
    },
  );

  it.each(['submissionsDeadLetters', 'workDeadLetters'] as const)(
    'redrives the %s queue nowhere, in both',
    (queue) => {
      expect(stackQueue(queue).RedrivePolicy).toBeUndefined();
      expect(local[queue]!.RedrivePolicy).toBeUndefined();
    },
  );

  it.each(Object.keys(STACK_QUEUES) as Queue[])(
    'gives the %s queue consumer the same timeout and batch size',
    (queue) => {
      const settings = localBatchQueues(platform.config);
      const source = stackSource(queue);

      expect(settings.timeoutsMs[CONSUMERS[queue].local]).toBe(stackTimeoutSeconds(queue) * 1000);
      expect(settings[LOCAL_SOURCES[queue]].batchSize).toBe(source.BatchSize);
    },
  );

  it.each(Object.keys(STACK_QUEUES) as Queue[])(
    'accepts %s messages of up to 1 MiB, the SQS default and maximum since 2025, in both',
    (queue) => {
      // Unset in the template, so SQS applies its default MaximumMessageSize, 1,048,576 bytes.
      expect(stackQueue(queue).MaximumMessageSize).toBeUndefined();
      expect(Number(local[queue]!.MaximumMessageSize)).toBe(SQS_DEFAULT_MAX_MESSAGE_BYTES);
    },
  );

  it('carries a message of exactly 1 MiB through the local SQS emulator, and refuses one byte more', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'fidelity-message-size' }));
    try {
      const body = 'x'.repeat(SQS_DEFAULT_MAX_MESSAGE_BYTES);
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
      expect(Messages[0]?.Body?.length).toBe(SQS_DEFAULT_MAX_MESSAGE_BYTES);

      const tooLarge = sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: `${body}x` }));
      await expect(tooLarge).rejects.toThrow(/Message must be shorter than 1048576 bytes/);
    } finally {
      await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    }
  });

  it('bounds the worker at the same maximum concurrency', () => {
    const settings = localBatchQueues(platform.config);
    const scaling = stackSource('work').ScalingConfig as { MaximumConcurrency: number };

    expect(settings.work.maxConcurrency).toBe(scaling.MaximumConcurrency);
  });

  it('runs submissions as Lambda starts on a source with no maximum concurrency: five batches at once', () => {
    // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
    expect(stackSource('submissions').ScalingConfig).toBeUndefined();
    expect(localBatchQueues(platform.config).submissions.maxConcurrency).toBe(5);
  });

  it.each(['submissions', 'work', 'submissionsDeadLetters', 'workDeadLetters'] as const)(
    'hides a received %s message for six of its consumer timeouts, in both',
    (queue) => {
      const deployed = stackQueue(queue).VisibilityTimeout as number;

      expect(deployed).toBe(VISIBILITY_TIMEOUT_FACTOR * stackTimeoutSeconds(queue));
      expect(Number(local[queue]!.VisibilityTimeout)).toBe(deployed);
    },
  );
});
