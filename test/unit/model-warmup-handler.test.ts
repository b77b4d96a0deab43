import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lambdaContext } from '../helpers/events';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const dynamodb = mockClient(DynamoDBClient);
const QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:warm-ups';
const DEAD_LETTER_ARN = 'arn:aws:sqs:us-east-1:000000000000:warm-ups-dlq';
const archive = 'simple-00000000000000aa.tar.gz';
const warmUp = {
  name: 'simple',
  version: '2',
  archive,
  source: 'signature',
  inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], fill: 'zero' }],
  enqueuedAt: '2026-01-01T00:00:00.000Z',
  attempt: 0,
};
const record = (body: string, eventSourceARN: string, receiveCount = 4): SQSRecord => ({
  messageId: 'm-1',
  receiptHandle: 'r',
  body,
  attributes: {
    ApproximateReceiveCount: String(receiveCount),
    SentTimestamp: '0',
    SenderId: 'x',
    ApproximateFirstReceiveTimestamp: '0',
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN,
  awsRegion: 'us-east-1',
});

describe('the warm-up handler on its dead-letter queue', () => {
  let handler: (event: SQSEvent, context: unknown) => Promise<{ batchItemFailures: unknown[] }>;

  beforeAll(async () => {
    Object.assign(process.env, {
      REGISTRY_TABLE_NAME: 'registry',
      WARMUP_QUEUE_URL: 'http://127.0.0.1:1/warm-ups',
      WARMUP_DEAD_LETTER_QUEUE_ARN: DEAD_LETTER_ARN,
      CIRCUIT_TABLE_NAME: 'circuits',
      CIRCUIT_SETTINGS: JSON.stringify({
        failureThreshold: 5,
        windowSeconds: 30,
        cooldownSeconds: 30,
        probeTimeoutSeconds: 10,
        cacheTtlMs: 1000,
      }),
    });
    ({ handler } = (await import('../../functions/handlers/model-warmup/handler')) as never);
  });

  beforeEach(() => {
    dynamodb.reset();
    dynamodb.on(GetItemCommand).resolves({
      Item: marshall({
        pk: 'MODEL#simple',
        sk: 'VERSION#2',
        name: 'simple',
        version: '2',
        platform: 'onnxruntime_onnx',
        ...SIMPLE_SIGNATURE,
        backends: [{ endpointName: 'mme', variant: 'AllTraffic', targetModel: archive, weight: 100 }],
        status: 'LOADING',
        createdAt: 'then',
        updatedAt: 'then',
      }),
    });
    dynamodb.on(UpdateItemCommand).resolves({});
  });

  it('ends the version of a dead-lettered warm-up FAILED, whatever its receive count', async () => {
    const result = await handler(
      { Records: [record(JSON.stringify(warmUp), DEAD_LETTER_ARN, 1)] },
      lambdaContext('model-warmup'),
    );
    expect(result.batchItemFailures).toEqual([]);
    const update = dynamodb.commandCalls(UpdateItemCommand)[0]!.args[0].input;
    expect(update.ExpressionAttributeValues?.[':status']).toEqual({ S: 'FAILED' });
    expect(update.ExpressionAttributeValues?.[':reason']?.S).toMatch(/dead-lettered/);
  });

  it('drops a dead letter that is not a warm-up, writing nothing', async () => {
    const result = await handler(
      { Records: [record('{not json', DEAD_LETTER_ARN), record('{"name":1}', DEAD_LETTER_ARN)] },
      lambdaContext('model-warmup'),
    );
    expect(result.batchItemFailures).toEqual([]);
    expect(dynamodb.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });

  it('leaves an unreadable message of the warm-up queue itself to be delivered again', async () => {
    const result = await handler(
      { Records: [record('{not json', QUEUE_ARN, 1)] },
      lambdaContext('model-warmup'),
    );
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm-1' }]);
  });
});
