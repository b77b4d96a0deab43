import { existsSync, readFileSync } from 'node:fs';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { writeFileAtomically } from './state-dir';

type Deploy = (event: CloudFormationCustomResourceEvent) => Promise<unknown>;

/** What the last deployment gave each custom resource, by resource type. */
type DeploymentRecord = Record<string, { properties: Record<string, unknown>; physicalResourceId: string }>;

/**
 * Starting on kept state is a redeploy, and CloudFormation treats a custom resource it created before
 * by its properties: unchanged, it sends nothing; changed, an `Update` carrying the last deployment's
 * properties as `OldResourceProperties` (so the registry seed removes versions no longer shipped).
 * The platform's start sends `Create`s; this turns them into what a redeploy sends, keeping each
 * resource's last properties in `file`.
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes-update.html
 */
export function asRedeploy(deploy: Deploy, file: string): Deploy {
  return async (event) => {
    const record: DeploymentRecord = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
    const previous = record[event.ResourceType];
    const { ServiceToken: _token, ...properties } = event.ResourceProperties;
    if (previous && JSON.stringify(previous.properties) === JSON.stringify(properties)) return undefined;
    const sent: CloudFormationCustomResourceEvent =
      event.RequestType === 'Create' && previous
        ? {
            ...event,
            RequestType: 'Update',
            PhysicalResourceId: previous.physicalResourceId,
            OldResourceProperties: { ServiceToken: event.ServiceToken, ...previous.properties },
          }
        : event;
    const result = await deploy(sent);
    const physicalResourceId = (result as { PhysicalResourceId?: string } | undefined)?.PhysicalResourceId;
    record[event.ResourceType] = {
      properties,
      physicalResourceId: physicalResourceId ?? event.LogicalResourceId,
    };
    writeFileAtomically(file, JSON.stringify(record));
    return result;
  };
}
