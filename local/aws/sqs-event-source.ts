/**
 * Lambda's SQS event source, locally: long-polls a queue, invokes a handler with a real `SQSEvent`,
 * deletes the records the handler did not report in `batchItemFailures` and leaves the rest to
 * reappear after the visibility timeout (and, after the queue's maxReceiveCount, in its dead-letter
 * queue). A handler that throws fails its whole batch, as in Lambda.
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../contracts/lambda-limits';
import { type LambdaHandler, lambdaContext } from './api-gateway';

export interface SqsEventSourceOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  /** Name the handler's context carries, as the function's name does in Lambda. */
  readonly functionName: string;
  readonly handler: LambdaHandler<SQSEvent, SQSBatchResponse | undefined>;
  /** Records per invocation, at most 10. @default 10 */
  readonly batchSize?: number;
  /** Invocations in flight at once: the event source's maximum concurrency. @default 2 */
  readonly maxConcurrency?: number;
  /** The function's timeout. @default 60000 */
  readonly timeoutMs?: number;
  /** Called with an invocation that threw, instead of failing silently. @default console.error */
  readonly onError?: (error: unknown) => void;
}

export interface SqsEventSource {
  /** Stops polling and waits for invocations in flight. */
  close(): Promise<void>;
}

const REGION = 'us-east-1';
/**
 * Lambda long-polls a queue while it is idle (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html),
 * and 20 s is the longest a receive may wait (`WaitTimeSeconds`,
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/best-practices-setting-up-long-polling.html).
 * A message sent or made visible ends the wait at once, so a longer wait costs no latency; with a
 * 1 s wait an idle platform's twenty pollers made twenty receives a second.
 */
const LONG_POLL_SECONDS = 20;
/**
 * Lambda passes a batch to the function in one call up to the synchronous invocation payload limit
 * (`BatchSize` in the Lambda API reference; botocore's lambda/2015-03-31/service-2.json). With
 * messages of up to 1 MiB, ten of them can exceed it: the records then go in more than one call.
 */
export const MAX_INVOCATION_PAYLOAD_BYTES = LAMBDA_SYNC_PAYLOAD_BYTES;

export function startSqsEventSource(options: SqsEventSourceOptions): SqsEventSource {
  const stop = new AbortController();
  const onError = options.onError ?? ((error: unknown) => console.error(`${options.functionName}:`, error));
  const poll = async () => {
    while (!stop.signal.aborted) {
      try {
        const { Messages = [] } = await options.client.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: options.batchSize ?? 10,
            WaitTimeSeconds: LONG_POLL_SECONDS,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: stop.signal },
        );
        for (const batch of withinPayloadLimit(Messages.map((m) => recordOf(m, options.queueArn))))
          await invoke(options, batch, onError);
      } catch (error) {
        if (stop.signal.aborted) return;
        onError(error);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  };
  const pollers = Array.from({ length: options.maxConcurrency ?? 2 }, () => poll());
  return {
    close: async () => {
      stop.abort();
      await Promise.allSettled(pollers);
    },
  };
}

/** The records in order, in as few events as keep each within the invocation payload limit. */
export function withinPayloadLimit(records: readonly SQSRecord[]): SQSRecord[][] {
  const batches: SQSRecord[][] = [];
  let current: SQSRecord[] = [];
  for (const record of records) {
    const candidate = [...current, record];
    if (
      current.length > 0 &&
      Buffer.byteLength(JSON.stringify({ Records: candidate })) > MAX_INVOCATION_PAYLOAD_BYTES
    ) {
      batches.push(current);
      current = [record];
    } else {
      current = candidate;
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

async function invoke(
  options: SqsEventSourceOptions,
  records: SQSRecord[],
  onError: (error: unknown) => void,
) {
  const event: SQSEvent = { Records: records };
  let failed: Set<string>;
  try {
    const response = await options.handler(
      event,
      lambdaContext(options.functionName, options.timeoutMs ?? 60_000),
    );
    failed = failedItems(records, response);
  } catch (error) {
    onError(error);
    failed = new Set(records.map((r) => r.messageId));
  }
  const done = records.filter((r) => !failed.has(r.messageId));
  if (done.length === 0) return;
  await options.client.send(
    new DeleteMessageBatchCommand({
      QueueUrl: options.queueUrl,
      Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
    }),
  );
}

/**
 * The records a partial batch response reports as failed. Lambda takes the whole batch as failed
 * when an `itemIdentifier` is empty, null, missing or names no message of the batch ("Success and
 * failure conditions", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html):
 * thrown here, so the batch is kept as for a thrown error.
 */
function failedItems(records: readonly SQSRecord[], response: unknown): Set<string> {
  const failures = (response as { batchItemFailures?: unknown } | null | undefined)?.batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  const ids = new Set(records.map((r) => r.messageId));
  if (!Array.isArray(failures)) throw new Error('batchItemFailures is not a list: the whole batch failed');
  return new Set(
    failures.map((failure: unknown) => {
      const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      if (typeof id !== 'string' || !ids.has(id)) {
        throw new Error(
          `batchItemFailures names ${JSON.stringify(id)}, no message of the batch: the whole batch failed`,
        );
      }
      return id;
    }),
  );
}

function recordOf(message: Message, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: REGION,
  };
}
