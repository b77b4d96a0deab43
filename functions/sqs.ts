import { SQSClient } from '@aws-sdk/client-sqs';
import { tracer } from './observability/tracer';

// Our queues live in the function's own region: the regional endpoint serves them (and the local
// emulator, whose queue URLs do not name a reachable host).
export const sqs = tracer.captureAWSv3Client(new SQSClient({ useQueueUrlAsEndpoint: false }));
