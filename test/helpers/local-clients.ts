import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SageMakerRuntimeClient, type SageMakerRuntimeClientConfig } from '@aws-sdk/client-sagemaker-runtime';

/** Emulators accept any credentials; these keep the SDK from looking for real ones. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** A DynamoDB client of its own for the emulator at `url`, as each Lambda container has. */
export const localDynamoDb = (url: string) =>
  new DynamoDBClient({ endpoint: url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });

/** A SageMaker Runtime client for the local model server at `url`, without SDK retries. */
export const localSageMaker = (url: string, config: SageMakerRuntimeClientConfig = {}) =>
  new SageMakerRuntimeClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
    ...config,
  });
