import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { type LocalS3, startS3 } from '../../local/aws/s3';
import { install, SdkFaults } from '../../local/aws/sdk-faults';
import { type LocalSqs, startSqs } from '../../local/aws/sqs';
import { localDynamoDb } from '../helpers/local-clients';

/**
 * The request counts the local platform keeps per service, through the same hook a container
 * installs before its handler loads (here in this process: its clients share the patched handler).
 */
describe('requests counted by service', () => {
  let dynamo: LocalDynamoDb;
  let s3: LocalS3;
  let sqs: LocalSqs;
  const faults = new SdkFaults();

  beforeAll(async () => {
    [dynamo, s3, sqs] = await Promise.all([
      startDynamoDb(),
      startS3({ region: 'us-east-1' }),
      startSqs({ region: 'us-east-1' }),
    ]);
    await s3.createBucket('counted');
    install(faults.buffer, { functionName: 'counting' });
  });

  afterAll(async () => {
    await Promise.all([dynamo?.close(), s3?.close(), sqs?.close()]);
  });

  it('counts DynamoDB, S3, SQS and SageMaker calls apart, by the service each is signed for', async () => {
    const { queueUrl } = await sqs.createQueue('counted');
    const before = faults.stats().requests;
    const dynamodb = localDynamoDb(dynamo.url);
    await dynamodb.send(new ListTablesCommand({}));
    await dynamodb.send(new ListTablesCommand({}));
    await s3.client.send(new PutObjectCommand({ Bucket: 'counted', Key: 'k', Body: 'v' }));
    await s3.client.send(new HeadObjectCommand({ Bucket: 'counted', Key: 'k' }));
    await (
      await s3.client.send(new GetObjectCommand({ Bucket: 'counted', Key: 'k' }))
    ).Body!.transformToString();
    await sqs.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'm' }));
    // Signed like S3's REST calls (with X-Amz-Content-Sha256), yet counted as SageMaker. Nothing
    // listens on port 9: the request is counted as it leaves, whatever its answer.
    const sagemaker = new SageMakerRuntimeClient({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    await expect(
      sagemaker.send(new InvokeEndpointCommand({ EndpointName: 'e', Body: new Uint8Array([1]) })),
    ).rejects.toThrow();

    const after = faults.stats().requests;
    expect(after.dynamodb - before.dynamodb).toBe(2);
    expect(after.s3 - before.s3).toBe(3);
    expect(after.sqs - before.sqs).toBe(1);
    expect(after.sagemaker - before.sagemaker).toBe(1);
    expect(faults.stats()).toMatchObject({ dynamodbCalls: 0, sageMakerCalls: 0 });
  });
});
