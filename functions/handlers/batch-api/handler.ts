import { FUNCTIONS } from '../../../contracts/functions';
import {
  IdempotencyKeySchema,
  JobPathSchema,
  ListJobsQuerySchema,
  ListResultsQuerySchema,
  SubmitBatchJobSchema,
} from '../../batch/api-schemas';
import { BatchApiStore } from '../../batch/batch-store';
import { deleteJob } from '../../batch/deletion';
import {
  CompleteInputUploadSchema,
  InputPathSchema,
  StartInputUploadSchema,
} from '../../batch/input-schemas';
import { completeInputUpload, startInputUpload } from '../../batch/input-uploads';
import { cancelJob, listJobs, readJob, readResults } from '../../batch/queries';
import { retryJob } from '../../batch/retry';
import { s3 } from '../../batch/s3';
import { submitForFanOut } from '../../batch/submission';
import { type ApiRequest, apiHandler } from '../../edge/api-handler';
import { apiEnvironment, dynamodb, modelCache, rateLimiter } from '../../edge/api-runtime';
import { BadRequestError, NotFoundError } from '../../edge/errors';
import { header, json, parseJsonBody } from '../../edge/http';
import type { Principal } from '../../edge/principal';
import { parseInput } from '../../edge/validation';
import { instrument } from '../../observability/instrument';
import { sqs } from '../../sqs';

const env = FUNCTIONS.batch.environment.parse(process.env);

const store = new BatchApiStore(dynamodb, env.BATCH_TABLE_NAME, undefined, env.BATCH_RETENTION_SECONDS);
const batchData = { s3, bucket: env.BATCH_DATA_BUCKET };
const submissions = {
  store,
  models: modelCache,
  sqs,
  submissionsQueueUrl: env.SUBMISSIONS_QUEUE_URL,
  inputs: batchData,
  resultFiles: batchData,
};

async function route({ event, requestId, principal }: ApiRequest) {
  const caller = callerOf(principal);
  const jobId = parseInput(JobPathSchema, event.pathParameters ?? {}, 'path').jobId ?? '';
  switch (`${event.httpMethod} ${event.resource}`) {
    case 'POST /v1/batch-jobs': {
      const submission = parseInput(SubmitBatchJobSchema, parseJsonBody(event), 'batch job');
      const job = await submitForFanOut(submissions, {
        owner: caller.sub,
        idempotencyKey: idempotencyKeyOf(event),
        submission,
      });
      return json(202, job, requestId, { Location: `/v1/batch-jobs/${job.jobId}` });
    }
    case 'POST /v1/batch-inputs': {
      const { size, name } = parseInput(StartInputUploadSchema, parseJsonBody(event), 'batch input');
      const idempotencyKey = idempotencyKeyOf(event);
      return json(
        200,
        await startInputUpload(batchData, caller.sub, size, { idempotencyKey, name }),
        requestId,
      );
    }
    case 'POST /v1/batch-inputs/{inputId}/complete': {
      const { inputId } = parseInput(InputPathSchema, event.pathParameters ?? {}, 'path');
      const body = parseInput(CompleteInputUploadSchema, parseJsonBody(event), 'upload completion');
      return json(200, await completeInputUpload(batchData, caller.sub, inputId ?? '', body), requestId);
    }
    case 'GET /v1/batch-jobs': {
      const query = parseInput(ListJobsQuerySchema, event.queryStringParameters ?? {}, 'query');
      const page = await listJobs(store, caller, query.limit, query.nextToken);
      return json(
        200,
        { jobs: page.items, ...(page.nextToken ? { nextToken: page.nextToken } : {}) },
        requestId,
      );
    }
    case 'GET /v1/batch-jobs/{jobId}':
      return json(200, await readJob(store, caller, jobId), requestId);
    case 'GET /v1/batch-jobs/{jobId}/results': {
      const query = parseInput(ListResultsQuerySchema, event.queryStringParameters ?? {}, 'query');
      return json(200, await readResults({ store, resultFiles: batchData }, caller, jobId, query), requestId);
    }
    case 'POST /v1/batch-jobs/{jobId}/cancel':
      return json(202, await cancelJob(store, caller, jobId), requestId);
    case 'POST /v1/batch-jobs/{jobId}/retry':
      return json(202, await retryJob(submissions, caller, jobId), requestId);
    case 'DELETE /v1/batch-jobs/{jobId}':
      await deleteJob({ store, s3, bucket: env.BATCH_DATA_BUCKET }, caller, jobId);
      return { statusCode: 204, body: '' };
    default:
      throw new NotFoundError(`no route for ${event.httpMethod} ${event.resource}`);
  }
}

/** The request's `Idempotency-Key`, if it has one. */
function idempotencyKeyOf(event: ApiRequest['event']): string | undefined {
  const key = header(event, 'idempotency-key');
  return key === undefined ? undefined : parseInput(IdempotencyKeySchema, key, 'Idempotency-Key');
}

/** Every batch route sits behind the authorizer; a request without a principal is misrouted. */
function callerOf(principal: Principal | undefined): Principal {
  if (!principal) throw new BadRequestError('this route needs an authenticated caller');
  return principal;
}

export const handler = instrument(
  apiHandler(route, { errorStyle: 'control', allowedOrigins: apiEnvironment.ALLOWED_ORIGINS, rateLimiter }),
);
