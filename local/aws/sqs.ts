import { existsSync, readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import * as path from 'node:path';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueAttributeName,
  QueueNameExists,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { LOOPBACK } from '../loopback';
import { writeFileAtomically } from '../state-dir';
import { type SqsStore, SqsStore as SqsStoreClass, someStores } from './fauxqs-stores';

export interface LocalSqs {
  /** The endpoint SQS clients are given. */
  readonly url: string;
  /** A client of this emulator, closed with it. */
  readonly client: SQSClient;
  /**
   * Creates a queue through the SQS API, as a deployment would. A queue that exists keeps its
   * messages and takes the attributes given, as a redeploy updates it.
   */
  createQueue(
    name: string,
    attributes?: Record<string, string>,
  ): Promise<{ queueUrl: string; queueArn: string }>;
  close(): Promise<void>;
}

/**
 * fauxqs on the loopback address. Its `startFauxqs` always listens on 0.0.0.0 (its `host` option names
 * the host in queue URLs, not the address to bind), so the app is built with `buildApp` and listened
 * on here.
 *
 * In memory, unless `stateDir` is given: then the queues and their messages are kept on disk there and
 * read back on the next start (see persistQueues).
 */
export async function startSqs(options: {
  region: string;
  port?: number;
  stateDir?: string;
}): Promise<LocalSqs> {
  const store = new SqsStoreClass();
  const app = buildApp({ logger: false, host: LOOPBACK, stores: someStores({ sqsStore: store }) });
  let afterRequest: ((target: string | string[] | undefined) => void) | undefined;
  if (options.stateDir) {
    // onSend runs before the answer leaves: what a client was told happened is on disk.
    app.addHook(
      'onSend',
      async (request: { headers: IncomingHttpHeaders }, _reply: unknown, payload: unknown) => {
        afterRequest?.(request.headers['x-amz-target']);
        return payload;
      },
    );
  }
  // Queue URLs read `http://sqs.<region>.127.0.0.1:<port>/...`: clients reach the queues through `url`.
  const url = await app.listen({ port: options.port ?? 0, host: LOOPBACK });
  if (options.stateDir) {
    // Read back once the port is known: kept queues' URLs name the port of this start.
    afterRequest = persistQueues(store, path.join(options.stateDir, 'queues.json'), new URL(url).port);
  }
  const client = new SQSClient({
    endpoint: url,
    region: options.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    url,
    client,
    async createQueue(name, attributes) {
      let queueUrl: string | undefined;
      try {
        ({ QueueUrl: queueUrl } = await client.send(
          new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
        ));
      } catch (error) {
        // CreateQueue refuses a name that exists with other attributes; a deployment updates them.
        // fauxqs names the error by its query-protocol code (AWS.SimpleQueueService.QueueNameExists).
        const exists = error instanceof QueueNameExists || (error as Error).name.endsWith('.QueueNameExists');
        if (!exists || !attributes) throw error;
        ({ QueueUrl: queueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: name })));
        await client.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: attributes }));
      }
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

type Queue = ReturnType<SqsStore['createQueue']>;
type Message = Queue['messages'][number];
type InFlight = Queue['inflightMessages'] extends Map<string, infer Entry> ? Entry : never;

/** One queue as the snapshot file keeps it: its identity, its attributes and every message it holds. */
interface QueueSnapshot {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly createdTimestamp: number;
  readonly lastModifiedTimestamp: number;
  readonly attributes: Record<string, string>;
  readonly tags: Record<string, string>;
  readonly ready: Message[];
  readonly delayed: Message[];
  /** Received and not yet deleted, with the time they become visible again. */
  readonly inFlight: InFlight[];
  readonly fifoReady: [string, Message[]][];
  readonly fifoDelayed: [string, Message[]][];
  readonly sequenceCounter: number;
}

/** The SQS actions that change no queue or message, after which nothing is written. */
const READ_ONLY_ACTIONS = new Set(['GetQueueUrl', 'GetQueueAttributes', 'ListQueues', 'ListQueueTags']);

/**
 * Keeps fauxqs's queues in one snapshot file, read back at start and rewritten whole after each SQS
 * request that may change them, before its answer is sent: a message whose SendMessage was answered is
 * on disk, and so is a receive (the message in flight, its receive count) or a delete. Messages in
 * flight at a stop stay in flight until their visibility timeout passes, then are delivered again with
 * their receive count, as SQS does; a receipt handle from before a restart still deletes its message
 * within that time. Local queues hold few messages, so a whole snapshot per change costs little; one
 * equal to the last written is skipped (an empty long poll changes nothing). fauxqs's FIFO
 * deduplication window is not kept.
 */
function persistQueues(
  store: SqsStore,
  file: string,
  port: string,
): (target: string | string[] | undefined) => void {
  if (existsSync(file)) {
    for (const saved of JSON.parse(readFileSync(file, 'utf8')) as QueueSnapshot[]) {
      restoreQueue(store, saved, port);
    }
  }
  let written = JSON.stringify(store.listQueues().map(snapshotOf));
  writeFileAtomically(file, written);
  return (target) => {
    const action =
      typeof target === 'string' && target.startsWith('AmazonSQS.') ? target.slice(10) : undefined;
    if (action === undefined || READ_ONLY_ACTIONS.has(action)) return;
    const snapshot = JSON.stringify(store.listQueues().map(snapshotOf));
    if (snapshot === written) return;
    writeFileAtomically(file, snapshot);
    written = snapshot;
  };
}

function snapshotOf(queue: Queue): QueueSnapshot {
  return {
    name: queue.name,
    url: queue.url,
    arn: queue.arn,
    createdTimestamp: queue.createdTimestamp,
    lastModifiedTimestamp: queue.lastModifiedTimestamp,
    attributes: queue.attributes,
    tags: Object.fromEntries(queue.tags),
    ready: queue.messages,
    delayed: queue.delayedMessages,
    inFlight: [...queue.inflightMessages.values()],
    fifoReady: [...queue.fifoMessages],
    fifoDelayed: [...queue.fifoDelayed],
    sequenceCounter: queue.sequenceCounter,
  };
}

/**
 * A kept queue comes back under the port SQS listens on now. fauxqs finds a queue by its exact URL,
 * which names the port it was created on; kept as it was, the URL the platform prints and hands its
 * functions would name a port nothing listens on any more. (The host, `sqs.<region>.127.0.0.1`, is
 * no WHATWG URL host, so the port is replaced as text.)
 */
function restoreQueue(store: SqsStore, saved: QueueSnapshot, port: string): void {
  const url = saved.url.replace(/^(http:\/\/[^/:]+)(:\d+)?\//, `$1:${port}/`);
  const queue = store.createQueue(saved.name, url, saved.arn, saved.attributes, saved.tags);
  Object.assign(queue, { createdTimestamp: saved.createdTimestamp });
  queue.lastModifiedTimestamp = saved.lastModifiedTimestamp;
  queue.messages = saved.ready;
  queue.delayedMessages = saved.delayed;
  queue.sequenceCounter = saved.sequenceCounter;
  for (const [group, messages] of saved.fifoReady) queue.fifoMessages.set(group, messages);
  for (const [group, messages] of saved.fifoDelayed) queue.fifoDelayed.set(group, messages);
  for (const entry of saved.inFlight) {
    queue.inflightMessages.set(entry.receiptHandle, entry);
    // A FIFO group with a message in flight delivers no other until that one is deleted or visible again.
    const group = entry.message.messageGroupId;
    if (group !== undefined) queue.fifoLockedGroups.set(group, (queue.fifoLockedGroups.get(group) ?? 0) + 1);
  }
}
