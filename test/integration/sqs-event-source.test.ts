import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
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

  it('long-polls while idle, yet delivers a message sent during the wait before the wait ends, and closes at once', async () => {
    // Prepare: count the receives the pollers send.
    const queue = await sqs.createQueue('idle', { VisibilityTimeout: '30' });
    let receives = 0;
    const client = {
      send: (command: unknown, options?: unknown) => {
        if (command instanceof ReceiveMessageCommand) receives++;
        return sqs.client.send(command as ReceiveMessageCommand, options as never);
      },
    } as typeof sqs.client;
    let delivered: (body: string) => void = () => undefined;
    const received = new Promise<string>((resolve) => {
      delivered = resolve;
    });

    // Act: two pollers idle for 3 s, then a message.
    const source = startSqsEventSource({
      client,
      queueUrl: queue.queueUrl,
      queueArn: queue.queueArn,
      functionName: 'idle',
      maxConcurrency: 2,
      handler: async (event: SQSEvent) => {
        delivered(event.Records[0]!.body);
        return { batchItemFailures: [] };
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const idleReceives = receives;
    const sentAt = Date.now();
    await sqs.client.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: 'hello' }));
    const body = await received;
    const deliveredAfterMs = Date.now() - sentAt;
    const closing = Date.now();
    await source.close();

    // Assess: one waiting receive per poller in 3 s idle (a 1 s wait made six); the message ended a
    // wait that had most of its 20 s left, and closing aborted the waits instead of sitting them out.
    expect(idleReceives).toBe(2);
    expect(body).toBe('hello');
    expect(deliveredAfterMs).toBeLessThan(15_000);
    expect(Date.now() - closing).toBeLessThan(15_000);
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
