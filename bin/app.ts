import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { PlatformConfigError, readPlatformConfig, unknownContextKeys } from '../lib/config';
import { InferencePlatformStack } from '../lib/inference-platform-stack';
import { PROJECT_ROOT } from '../lib/project-root';
import { servedModels } from '../lib/served-models';
import { modelsPinnedToGpu } from '../lib/triton-endpoint';
import { loadModelRepository } from '../triton-image/model-repository';

const app = new App();

try {
  // A mistyped key (-c instancetype=...) would leave its default in place without a word.
  const unknown = unknownContextKeys(app.node.getAllContext());
  if (unknown.length > 0) {
    console.error(`warning: ignoring context keys that are no configuration keys: ${unknown.join(', ')}`);
  }

  const config = readPlatformConfig((key) => app.node.tryGetContext(key));

  const { version } = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };

  const modelRepositoryPath = path.join(PROJECT_ROOT, 'triton-image', 'model_repository');
  // Every config.pbtxt is parsed against Triton's schema here, so a bad one stops synth, not the endpoint.
  const definitions = await loadModelRepository(modelRepositoryPath);
  const models = servedModels(definitions);

  new InferencePlatformStack(app, 'InferencePlatform', {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: config.region },
    description: 'Serverless inference platform: API Gateway, Lambda, DynamoDB and Triton on SageMaker',
    config,
    modelRepositoryPath,
    models,
    gpuPinnedModels: modelsPinnedToGpu(definitions),
    platformVersion: version,
  });
} catch (error) {
  // A configuration mistake is the user's to fix: its message alone, not the synth's stack.
  if (!(error instanceof PlatformConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
