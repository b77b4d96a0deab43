import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSqs, startSqs } from '../../local/aws/sqs';
import {
  MAX_INVOCATION_PAYLOAD_BYTES,
  startSqsEventSource,
  withinPayloadLimit,
} from '../../local/aws/sqs-event-source';

const record = (id: string, bytes: number) => ({ messageId: id, body: 'x'.repeat(bytes) }) as SQSRecord;

describe('local SQS event source', () => {
  let sqs: LocalSqs;

  beforeAll(async () => {
    sqs = await startSqs({ region: 'us-east-1' });
  });

  afterAll(async () => {
    await sqs?.close();
  });

  it('splits a batch of large messages into invocations within the 6 MB payload limit, losing none', async () => {
    // Prepare: ten messages of 900 KiB, 9 MB in all, which one ReceiveMessage returns together.
    const queue = await sqs.createQueue('large-messages', { VisibilityTimeout: '30' });
    const bodies = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(900 * 1024, 'x'));
    for (const body of bodies) {
      await sqs.client.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: body }));
    }
    const events: { bytes: number; ids: string[] }[] = [];
    let resolveAll: () => void = () => undefined;
    const all = new Promise<void>((resolve) => {
      resolveAll = resolve;
    });

    // Act
    const source = startSqsEventSource({
      client: sqs.client,
      queueUrl: queue.queueUrl,
      queueArn: queue.queueArn,
      functionName: 'large',
      batchSize: 10,
      maxConcurrency: 1,
      handler: async (event: SQSEvent) => {
        events.push({
          bytes: Buffer.byteLength(JSON.stringify(event)),
          ids: event.Records.map((r) => r.body[0]!),
        });
        if (events.flatMap((e) => e.ids).length === bodies.length) resolveAll();
        return { batchItemFailures: [] };
      },
    });
    await all;
    await source.close();

    // Assess
    for (const event of events) expect(event.bytes).toBeLessThanOrEqual(MAX_INVOCATION_PAYLOAD_BYTES);
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(
      events
        .flatMap((e) => e.ids)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(bodies.map((_, i) => i));
  }, 60_000);

  it('keeps a batch whole when it fits in 6 MB, and otherwise cuts it in order into the fewest that fit', () => {
    const small = Array.from({ length: 10 }, (_, i) => record(String(i), 1024));
    expect(withinPayloadLimit(small)).toEqual([small]);

    const large = Array.from({ length: 10 }, (_, i) => record(String(i), 1024 * 1024));
    const batches = withinPayloadLimit(large);
    expect(batches.map((b) => b.length)).toEqual([5, 5]);
    expect(batches.flat()).toEqual(large);
    for (const batch of batches) {
      expect(Buffer.byteLength(JSON.stringify({ Records: batch }))).toBeLessThanOrEqual(
        MAX_INVOCATION_PAYLOAD_BYTES,
      );
    }
  });
});
