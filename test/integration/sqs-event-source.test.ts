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

  it.each([
    ['an empty itemIdentifier', 'empty-id', { batchItemFailures: [{ itemIdentifier: '' }] }],
    [
      'an itemIdentifier of no message in the batch',
      'unknown-id',
      { batchItemFailures: [{ itemIdentifier: 'nope' }] },
    ],
    ['a failure without an itemIdentifier', 'no-id', { batchItemFailures: [{ id: 'x' }] }],
  ])(
    'keeps the whole batch, as Lambda does, for a partial batch response with %s',
    async (_, name, answer) => {
      // Prepare
      const queue = await sqs.createQueue(`bad-failures-${name}`, {
        VisibilityTimeout: '1',
      });
      for (const body of ['a', 'b']) {
        await sqs.client.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: body }));
      }
      const receives: Record<string, number> = {};
      const errors: unknown[] = [];
      let resolveAgain: () => void = () => undefined;
      const again = new Promise<void>((resolve) => {
        resolveAgain = resolve;
      });
      // Act: the first invocation answers the bad response; the messages must come back
      const source = startSqsEventSource({
        client: sqs.client,
        queueUrl: queue.queueUrl,
        queueArn: queue.queueArn,
        functionName: 'bad-failures',
        batchSize: 10,
        maxConcurrency: 1,
        onError: (error) => errors.push(error),
        handler: async (event: SQSEvent) => {
          for (const r of event.Records) receives[r.body] = (receives[r.body] ?? 0) + 1;
          if (Object.values(receives).every((n) => n >= 2) && Object.keys(receives).length === 2)
            resolveAgain();
          return errors.length === 0 ? (answer as never) : { batchItemFailures: [] };
        },
      });
      await again;
      await source.close();
      // Assess
      expect(receives).toMatchObject({ a: 2, b: 2 });
      expect(String(errors[0])).toMatch(/the whole batch failed/);
    },
    30_000,
  );

  it('long-polls while idle, delivers a message sent during a wait from that wait, and aborts the waits on close', async () => {
    // Prepare: count the receives the pollers send, and those a close aborted.
    const queue = await sqs.createQueue('idle', { VisibilityTimeout: '30' });
    let receives = 0;
    let aborted = 0;
    const client = {
      send: async (command: unknown, options?: unknown) => {
        if (!(command instanceof ReceiveMessageCommand))
          return sqs.client.send(command as never, options as never);
        receives++;
        try {
          return await sqs.client.send(command, options as never);
        } catch (error) {
          if ((error as Error).name === 'AbortError') aborted++;
          throw error;
        }
      },
    } as typeof sqs.client;
    let delivered: (receivesThen: number) => void = () => undefined;
    const received = new Promise<number>((resolve) => {
      delivered = resolve;
    });

    // Act: two pollers idle for 3 s, then a message, then a close while both wait again.
    const source = startSqsEventSource({
      client,
      queueUrl: queue.queueUrl,
      queueArn: queue.queueArn,
      functionName: 'idle',
      maxConcurrency: 2,
      handler: async () => {
        delivered(receives);
        return { batchItemFailures: [] };
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const idleReceives = receives;
    await sqs.client.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: 'hello' }));
    const receivesAtDelivery = await received;
    await new Promise((resolve) => setTimeout(resolve, 200));
    await source.close();

    // Assess: one waiting receive per poller in 3 s idle (a 1 s wait made six); the message came
    // back from a receive already waiting, no new one; the close aborted the waits it found.
    expect(idleReceives).toBe(2);
    expect(receivesAtDelivery).toBe(idleReceives);
    expect(aborted).toBe(2);
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
