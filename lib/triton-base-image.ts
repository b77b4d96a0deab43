/**
 * Where AWS publishes the SageMaker Triton images, and which ones: the regions (with the ECR account
 * of each) and tags of `sagemaker-tritonserver` in sagemaker-python-sdk
 * `src/sagemaker/image_uri_config/sagemaker-tritonserver.json`, which also lists the images of
 * aws/deep-learning-containers `available_images.md`. Every listed tag is published in every listed
 * region.
 */
export const TRITON_IMAGE_ACCOUNTS: Readonly<Record<string, string>> = {
  'af-south-1': '626614931356',
  'ap-east-1': '871362719292',
  'ap-northeast-1': '763104351884',
  'ap-northeast-2': '763104351884',
  'ap-northeast-3': '364406365360',
  'ap-south-1': '763104351884',
  'ap-southeast-1': '763104351884',
  'ap-southeast-2': '763104351884',
  'ap-southeast-3': '907027046896',
  'ca-central-1': '763104351884',
  'ca-west-1': '204538143572',
  'cn-north-1': '727897471807',
  'cn-northwest-1': '727897471807',
  'eu-central-1': '763104351884',
  'eu-north-1': '763104351884',
  'eu-south-1': '692866216735',
  'eu-west-1': '763104351884',
  'eu-west-2': '763104351884',
  'eu-west-3': '763104351884',
  'il-central-1': '780543022126',
  'me-south-1': '217643126080',
  'sa-east-1': '763104351884',
  'us-east-1': '763104351884',
  'us-east-2': '763104351884',
  'us-west-1': '763104351884',
  'us-west-2': '763104351884',
};

/** The published `sagemaker-tritonserver` tags. */
export const TRITON_IMAGE_VERSIONS = [
  '23.12-py3',
  '24.01-py3',
  '24.03-py3',
  '24.05-py3',
  '24.09-py3',
] as const;

export const TRITON_IMAGE_REGIONS = Object.keys(TRITON_IMAGE_ACCOUNTS);

/** Why a region has no Triton image, or undefined when it has one. */
export function tritonRegionProblem(region: string): string | undefined {
  if (Object.hasOwn(TRITON_IMAGE_ACCOUNTS, region)) return undefined;
  return `AWS publishes no SageMaker Triton image in ${JSON.stringify(region)}; regions with one: ${TRITON_IMAGE_REGIONS.join(', ')}`;
}

/** Why a tag is not a published Triton image, or undefined when it is one. */
export function tritonVersionProblem(version: string): string | undefined {
  if ((TRITON_IMAGE_VERSIONS as readonly string[]).includes(version)) return undefined;
  return `sagemaker-tritonserver:${version} is not published; published tags: ${TRITON_IMAGE_VERSIONS.join(', ')}`;
}

/** The ECR registry host serving the Triton image in a region. */
export function tritonImageRegistry(region: string): string {
  const problem = tritonRegionProblem(region);
  if (problem) throw new Error(problem);
  const domain = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `${TRITON_IMAGE_ACCOUNTS[region]}.dkr.ecr.${region}.${domain}`;
}

/** `<account>.dkr.ecr.<region>.<domain>/sagemaker-tritonserver:<version>`, e.g. version `24.09-py3`. */
export function tritonBaseImage(region: string, version: string): string {
  const problem = tritonVersionProblem(version);
  if (problem) throw new Error(problem);
  return `${tritonImageRegistry(region)}/sagemaker-tritonserver:${version}`;
}

/**
 * GPU instance types a multi-model endpoint runs on (SageMaker developer guide, "Supported
 * algorithms, frameworks, and instances for multi-model endpoints", GPU table; multi-model endpoints
 * take single-GPU types only). CPU types all work.
 */
export const MULTI_MODEL_GPU_INSTANCE_TYPES = [
  'ml.p2.xlarge',
  'ml.p3.2xlarge',
  'ml.g4dn.xlarge',
  'ml.g4dn.2xlarge',
  'ml.g4dn.4xlarge',
  'ml.g4dn.8xlarge',
  'ml.g5.xlarge',
  'ml.g5.2xlarge',
  'ml.g5.4xlarge',
  'ml.g5.8xlarge',
  'ml.g5.16xlarge',
] as const;

/** What an instance type offers the Triton image, which is built for CPU and NVIDIA GPU only. */
export type InstanceKind = 'gpu' | 'cpu' | 'other-accelerator';

/** NVIDIA GPU types are the `p` and `g` families; Inferentia and Trainium need Neuron, which Triton's image lacks. */
export function instanceKind(instanceType: string): InstanceKind {
  const family = instanceType.split('.')[1] ?? '';
  if (/^[pg]\d/.test(family)) return 'gpu';
  if (/^(inf|trn)\d/.test(family)) return 'other-accelerator';
  return 'cpu';
}

/** Why the endpoint cannot run on an instance type in a serving mode, or undefined when it can. */
export function instanceTypeProblem(
  instanceType: string,
  servingMode: 'multi-model' | 'single-model',
): string | undefined {
  const kind = instanceKind(instanceType);
  if (kind === 'other-accelerator') {
    return `${instanceType} has no NVIDIA GPU and the SageMaker Triton image supports only CPU and NVIDIA GPU; use a CPU type or one of ${MULTI_MODEL_GPU_INSTANCE_TYPES.join(', ')}`;
  }
  if (
    kind === 'gpu' &&
    servingMode === 'multi-model' &&
    !(MULTI_MODEL_GPU_INSTANCE_TYPES as readonly string[]).includes(instanceType)
  ) {
    return `multi-model endpoints do not run on ${instanceType}; GPU types they run on: ${MULTI_MODEL_GPU_INSTANCE_TYPES.join(', ')} (or any CPU type, or servingMode single-model)`;
  }
  return undefined;
}
