import { DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';

const sagemaker = new SageMakerClient({});

/**
 * The endpoint's `EndpointStatus` from SageMaker's DescribeEndpoint. The client finds its endpoint
 * as every SDK client does (`AWS_ENDPOINT_URL_SAGEMAKER` when set, which the local platform uses).
 */
export async function describeEndpointStatus(endpointName: string, signal?: AbortSignal): Promise<string> {
  const { EndpointStatus } = await sagemaker.send(
    new DescribeEndpointCommand({ EndpointName: endpointName }),
    { abortSignal: signal },
  );
  if (!EndpointStatus) throw new Error(`DescribeEndpoint named no status for ${endpointName}`);
  return EndpointStatus;
}

/**
 * The `EndpointStatus` values of an endpoint that takes invocations (botocore
 * `sagemaker/2017-07-24/service-2.json`, `EndpointStatus`): an update, an autoscaling change of
 * capacity (`Updating`), maintenance, a rollback of weights or capacity, and a failed rollback (which
 * leaves old and new instances serving side by side) all keep serving. `Creating`, `OutOfService`,
 * `Deleting` and `Failed` do not.
 */
export const SERVING_STATUSES: ReadonlySet<string> = new Set([
  'InService',
  'Updating',
  'SystemUpdating',
  'RollingBack',
  'UpdateRollbackFailed',
]);

/**
 * The endpoint's status, read at most once per `ttlMs` per container. Health checks arrive from
 * load balancers and monitors every few seconds, each possibly on another container; 15 s keeps a
 * fleet of containers well below DescribeEndpoint's control-plane rate while a change of status
 * (an update starting or ending, which takes minutes) shows within 15 s. A failed read is not
 * cached, and concurrent requests share one read.
 */
export class EndpointReadiness {
  private cached: { status: string; at: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly read: () => Promise<string>,
    private readonly ttlMs = 15_000,
    private readonly now: () => number = Date.now,
  ) {}

  async status(): Promise<string> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.status;
    this.pending ??= this.read()
      .then((status) => {
        this.cached = { status, at: this.now() };
        return status;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}
