import { CustomResource } from 'aws-cdk-lib';
import { Construct, type IDependable } from 'constructs';
import type { DeploymentProvider } from './deployment-provider';
import type { RegistryTable } from './registry-table';
import { type ServedModel, type ServingMode, tritonBackend } from './served-models';

export interface RegistrySeedProps {
  /** The model versions the endpoint serves. */
  readonly models: readonly ServedModel[];
  readonly endpointName: string;
  readonly servingMode: ServingMode;
  /** Each model's archive name on a multi-model endpoint (its `TargetModel`). */
  readonly archiveNames: Readonly<Record<string, string>>;
  readonly registry: RegistryTable;
  readonly provider: DeploymentProvider;
  /** Seeding waits for this, so the API never routes to an endpoint that is not in service. */
  readonly after: IDependable;
}

/**
 * Registers the models the Triton endpoint serves, with the endpoint as their backend, when the
 * stack deploys; on later deploys it updates them and removes the ones no longer served.
 */
export class RegistrySeed extends Construct {
  constructor(scope: Construct, id: string, props: RegistrySeedProps) {
    super(scope, id);
    const models = props.models.map((model) => ({
      ...model,
      backends: [
        tritonBackend(model.name, props.endpointName, props.servingMode, props.archiveNames[model.name]),
      ],
      status: 'ACTIVE',
      description: `served by the platform's Triton endpoint (${props.servingMode})`,
    }));
    props.registry.bindRegistryWrites(props.provider.function);
    const seed = new CustomResource(this, 'Resource', {
      serviceToken: props.provider.serviceToken,
      resourceType: 'Custom::RegistrySeed',
      // CloudFormation turns numbers in properties into strings; JSON keeps the records exact.
      properties: { Models: JSON.stringify(models) },
    });
    seed.node.addDependency(props.after);
  }
}
