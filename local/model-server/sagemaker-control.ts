/**
 * SageMaker's control-plane DescribeEndpoint for the model server's endpoints, as the AWS JSON 1.1
 * protocol carries it (botocore `sagemaker/2017-07-24/service-2.json`): `POST /` with
 * `X-Amz-Target: SageMaker.DescribeEndpoint` and `{"EndpointName": ...}`. Every endpoint the server
 * answers InvokeEndpoint for is `InService` with one `AllTraffic` variant of one instance; a name it
 * does not serve gets SageMaker's `ValidationException`. No other control-plane operation exists here.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { headerValue, jsonReply, type Reply, readBody } from './http';
import type { SageMakerEndpoints } from './sagemaker-api';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const JSON_11 = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'SageMaker.';
/** When the local endpoints came up, in epoch seconds as JSON 1.1 carries timestamps. */
const STARTED_AT = Math.floor(Date.now() / 1000);

/** A JSON 1.1 request to the SageMaker control plane. */
export function isSageMakerControlRequest(method: string, path: string, req: IncomingMessage): boolean {
  return (
    method === 'POST' &&
    path === '/' &&
    (headerValue(req.headers, 'x-amz-target') ?? '').startsWith(TARGET_PREFIX)
  );
}

export class SageMakerControlApi {
  constructor(private readonly endpoints: SageMakerEndpoints) {}

  async handle(req: IncomingMessage): Promise<Reply> {
    const requestId = randomUUID();
    const operation = (headerValue(req.headers, 'x-amz-target') ?? '').slice(TARGET_PREFIX.length);
    const body = await readBody(req, 64 * 1024);
    if (operation !== 'DescribeEndpoint') {
      return error(requestId, 400, 'UnknownOperationException', `${operation} is not served locally`);
    }
    let name: unknown;
    try {
      name = (JSON.parse(Buffer.isBuffer(body) ? body.toString() : '') as { EndpointName?: unknown })
        .EndpointName;
    } catch {
      return error(requestId, 400, 'SerializationException', 'the request body is not JSON');
    }
    if (typeof name !== 'string' || !Object.hasOwn(this.endpoints, name)) {
      return error(requestId, 400, 'ValidationException', `Could not find endpoint "${String(name)}".`);
    }
    return jsonReply(
      200,
      {
        EndpointName: name,
        EndpointArn: `arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint/${name.toLowerCase()}`,
        EndpointConfigName: name,
        ProductionVariants: [
          {
            VariantName: 'AllTraffic',
            CurrentWeight: 1,
            DesiredWeight: 1,
            CurrentInstanceCount: 1,
            DesiredInstanceCount: 1,
          },
        ],
        EndpointStatus: 'InService',
        CreationTime: STARTED_AT,
        LastModifiedTime: STARTED_AT,
      },
      { 'content-type': JSON_11, 'x-amzn-RequestId': requestId },
    );
  }
}

/** JSON 1.1 errors name their type in `__type`. */
function error(requestId: string, status: number, type: string, message: string): Reply {
  return jsonReply(
    status,
    { __type: type, message },
    { 'content-type': JSON_11, 'x-amzn-RequestId': requestId },
  );
}
