import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSqs, startSqs } from '../../local/aws/sqs';
import { createWarmUpQueue, LOCAL_WARMUP_SOURCE } from '../../local/model-warmup';
import { synthesizePlatform } from '../infra/platform-app';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/**
 * The warm-up queue `npm start` creates against the one the stack synthesizes: the same visibility
 * timeout (six times the consumer's timeout, Lambda's guidance:
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html), redrive count,
 * encryption-independent attributes, batch size and consumer timeout; the stack's event source sets
 * no maximum concurrency, which the local poller reads as Lambda's starting five.
 */
describe('the warm-up queue, deployed and local', () => {
  let resources: Resources;
  let sqs: LocalSqs;
  let local: { queue: Record<string, string>; deadLetters: Record<string, string> };

  /** The one resource of the type whose logical id is the construct path and CDK's 8-digit hash. */
  const only = (type: string, path: string) => {
    const ids = Object.keys(resources).filter(
      (id) => resources[id]!.Type === type && new RegExp(`^${path}[0-9A-F]{8}$`).test(id),
    );
    expect(ids).toHaveLength(1);
    return { id: ids[0]!, ...resources[ids[0]!]! };
  };

  beforeAll(async () => {
    resources = synthesizePlatform().template.toJSON().Resources;
    sqs = await startSqs({ region: 'us-east-1' });
    const created = await createWarmUpQueue(sqs);
    const read = async (queueUrl: string) =>
      (await sqs.client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] })))
        .Attributes ?? {};
    local = {
      queue: await read(created.queue.queueUrl),
      deadLetters: await read(created.deadLetters.queueUrl),
    };
  }, 120_000);

  afterAll(async () => {
    await sqs?.close();
  });

  it('hides a received warm-up as long as the stack does, six function timeouts', () => {
    const queue = only('AWS::SQS::Queue', 'WarmUpQueue');
    const fn = only('AWS::Lambda::Function', 'WarmUpFunction');
    expect(queue.Properties.VisibilityTimeout).toBe(6 * (fn.Properties.Timeout as number));
    expect(Number(local.queue.VisibilityTimeout)).toBe(queue.Properties.VisibilityTimeout);
    expect(LOCAL_WARMUP_SOURCE.timeoutMs).toBe((fn.Properties.Timeout as number) * 1000);
  });

  it('dead-letters a warm-up after the same number of receives, at least the 5 Lambda advises', () => {
    const queue = only('AWS::SQS::Queue', 'WarmUpQueue');
    const deployed = (queue.Properties.RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount;
    // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html: throttled
    // invocations must not dead-letter a message.
    expect(deployed).toBeGreaterThanOrEqual(5);
    expect(JSON.parse(local.queue.RedrivePolicy!).maxReceiveCount).toBe(deployed);
    expect(JSON.parse(local.queue.RedrivePolicy!).deadLetterTargetArn).toBe(local.deadLetters.QueueArn);
    // The warm-up function drains the dead-letter queue too, hiding what it received as long.
    const deadLetterQueue = only('AWS::SQS::Queue', 'WarmUpQueueDeadLetterQueue');
    expect(deadLetterQueue.Properties.VisibilityTimeout).toBe(queue.Properties.VisibilityTimeout);
    expect(Number(local.deadLetters.VisibilityTimeout)).toBe(deadLetterQueue.Properties.VisibilityTimeout);
  });

  it.each([
    ['queue', 'WarmUpQueue'],
    ['dead-letter queue', 'WarmUpQueueDeadLetterQueue'],
  ])(
    'hands one message of the %s to each invocation of the warm-up function, with no maximum concurrency in the stack',
    (_, path) => {
      const queue = only('AWS::SQS::Queue', path);
      const fn = only('AWS::Lambda::Function', 'WarmUpFunction');
      const mappings = Object.values(resources).filter(
        (r) =>
          r.Type === 'AWS::Lambda::EventSourceMapping' &&
          JSON.stringify(r.Properties.EventSourceArn) === JSON.stringify({ 'Fn::GetAtt': [queue.id, 'Arn'] }),
      );
      expect(mappings).toHaveLength(1);
      expect(mappings[0]!.Properties.FunctionName).toEqual({ Ref: fn.id });
      expect(mappings[0]!.Properties.BatchSize).toBe(LOCAL_WARMUP_SOURCE.batchSize);
      expect(mappings[0]!.Properties.ScalingConfig).toBeUndefined();
      expect(mappings[0]!.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    },
  );

  it('tells the function which queue is the dead-letter queue', () => {
    const fn = only('AWS::Lambda::Function', 'WarmUpFunction');
    const deadLetterQueue = only('AWS::SQS::Queue', 'WarmUpQueueDeadLetterQueue');
    const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables.WARMUP_DEAD_LETTER_QUEUE_ARN).toEqual({ 'Fn::GetAtt': [deadLetterQueue.id, 'Arn'] });
  });
});
