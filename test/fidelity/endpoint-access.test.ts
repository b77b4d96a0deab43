/**
 * The local SageMaker refuses InvokeEndpoint on exactly the endpoints the stack's IAM does not grant.
 * The stack is synthesized with the local configuration (its endpoint named as the local one), so a
 * change to the grants or to the local allowed list without the other fails here.
 */

import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePlatformStack } from '../../lib/inference-platform-stack';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { LOCAL_ENDPOINT, localInvokableEndpoints, readLocalConfig } from '../../local/platform';
import { CDK_JSON_CONTEXT, createModelRepositoryFixture, FIXTURE_MODELS } from '../infra/platform-app';

type Statement = { Action: string | string[]; Resource: unknown };

/** An ARN from the template as text, pseudo parameters as `<AWS::Name>`. */
function arnText(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const [, parts] = (resource as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  return parts.map((p) => (typeof p === 'string' ? p : `<${(p as { Ref: string }).Ref}>`)).join('');
}

/** Endpoint names of every InvokeEndpoint grant, by the role that holds it. */
function invokeGrants(template: Template): Map<string, string[]> {
  const grants = new Map<string, string[]>();
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const statements = policy.Properties.PolicyDocument.Statement as Statement[];
    for (const statement of statements) {
      const actions = [statement.Action].flat();
      if (!actions.some((a) => a.startsWith('sagemaker:Invoke'))) continue;
      expect(actions).toEqual(['sagemaker:InvokeEndpoint']);
      const resources = [statement.Resource].flat().map(arnText);
      for (const role of policy.Properties.Roles as { Ref: string }[]) {
        grants.set(role.Ref, [
          ...(grants.get(role.Ref) ?? []),
          ...resources.map((arn) => {
            const match = /^arn:aws:sagemaker:us-east-1:<AWS::AccountId>:endpoint\/(.+)$/.exec(arn);
            if (!match) throw new Error(`InvokeEndpoint on something other than one endpoint: ${arn}`);
            return match[1]!;
          }),
        ]);
      }
    }
  }
  return grants;
}

describe('InvokeEndpoint access: the stack and the local platform', () => {
  const config = readLocalConfig();
  const allowed = localInvokableEndpoints(config);
  let template: Template;
  let server: ModelServer;
  let client: SageMakerRuntimeClient;

  beforeAll(async () => {
    const app = new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
    const stack = new InferencePlatformStack(app, 'InferencePlatform', {
      config,
      endpointName: LOCAL_ENDPOINT,
      modelRepositoryPath: createModelRepositoryFixture(),
      models: FIXTURE_MODELS,
    });
    template = Template.fromStack(stack);
    server = await startModelServer({ models: [], endpoints: {}, invokableEndpoints: allowed });
    client = new SageMakerRuntimeClient({
      region: 'us-east-1',
      endpoint: server.url,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client?.destroy();
    await server?.close();
  });

  it('grants InvokeEndpoint to the inference, batch worker and model warm-up roles on exactly the local allowed list', () => {
    const grants = invokeGrants(template);
    expect([...grants.keys()].sort()).toEqual(
      Object.keys(template.findResources('AWS::IAM::Role'))
        .filter((id) => /^(ApiInferenceFunction|BatchWorkerFunction|WarmUpFunction)/.test(id))
        .sort(),
    );
    expect(grants.size).toBe(3);
    for (const names of grants.values()) {
      expect([...names].sort()).toEqual(allowed.map((n) => n.toLowerCase()).sort());
    }
  });

  it('includes the local standby, as cdk.json would list a deployed one', () => {
    expect(allowed).toEqual(['local-triton', ...config.additionalEndpointNames]);
    expect(allowed).toContain('local-triton-standby');
  });

  it('lets the local SageMaker pass every granted endpoint to its lookup and refuse any other with AWS’s 403', async () => {
    const invoke = (name: string) =>
      client
        .send(new InvokeEndpointCommand({ EndpointName: name, ContentType: 'application/json', Body: '{}' }))
        .then(
          () => ({ name: 'ok', status: 200 }),
          (e: { name: string; $metadata: { httpStatusCode: number } }) => ({
            name: e.name,
            status: e.$metadata.httpStatusCode,
          }),
        );
    // No endpoint exists on this server: a granted name reaches the lookup and is not found.
    for (const name of [...invokeGrants(template).values()].flat()) {
      expect(await invoke(name)).toEqual({ name: 'ValidationError', status: 400 });
    }
    expect(await invoke('not-granted')).toEqual({ name: 'AccessDeniedException', status: 403 });
  });
});
