import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { FUNCTIONS } from '../../../contracts/functions';
import { parseWorkMessage } from '../../batch/api-schemas';
import { BatchStore } from '../../batch/batch-store';
import { deadSubmissionReason, failChunk, failSubmission } from '../../batch/dead-letters';
import { s3 } from '../../batch/s3';
import { instrument } from '../../observability/instrument';
import { logger } from '../../observability/logger';
import { tracer } from '../../observability/tracer';

const env = FUNCTIONS.batchDeadLetters.environment.parse(process.env);

const store = new BatchStore(
  tracer.captureAWSv3Client(new DynamoDBClient({})),
  env.BATCH_TABLE_NAME,
  undefined,
  env.BATCH_RETENTION_SECONDS,
);
const resultFiles = { s3, bucket: env.BATCH_DATA_BUCKET };
const processor = new BatchProcessor(EventType.SQS);

/**
 * One dead-lettered message of either batch queue, told apart by the queue it comes from: a chunk
 * whose worker never recorded an outcome, or a submission that never fanned out.
 */
async function recordDeadLetter(record: SQSRecord): Promise<void> {
  if (record.eventSourceARN === env.WORK_DEAD_LETTER_QUEUE_ARN) {
    const work = parseWorkMessage(record.body);
    if (!work.success) {
      // Names no chunk, so there is nothing to record: logged (work messages hold ids only) and dropped.
      logger.error('malformed dead-lettered work message', {
        messageId: record.messageId,
        body: record.body,
      });
      return;
    }
    // A worker that could explain the failure records it on the last delivery itself; one that
    // reaches here crashed, timed out or could not write its outcome.
    const reason = `dead-lettered after ${env.WORK_MAX_RECEIVE_COUNT} deliveries: the worker ended without recording an outcome (a crash, a timeout or a failed write)`;
    await failChunk(store, work.data, reason, resultFiles);
  } else await failSubmission(store, record, deadSubmissionReason(record.body), resultFiles);
}

export const handler = instrument(
  (event: SQSEvent, context: Context) =>
    processPartialResponse(event, recordDeadLetter, processor, { context, throwOnFullBatchFailure: false }),
  { requestMetrics: false },
);
