/**
 * Where the SageMaker Triton images live. AWS publishes them from account 763104351884 in most
 * regions and from these accounts elsewhere (aws/deep-learning-containers `available_images.md`,
 * sagemaker-python-sdk `image_uri_config/sagemaker-tritonserver.json`).
 */
export const DEFAULT_TRITON_IMAGE_ACCOUNT = '763104351884';

export const TRITON_IMAGE_ACCOUNTS: Readonly<Record<string, string>> = {
  'af-south-1': '626614931356',
  'ap-east-1': '871362719292',
  'ap-northeast-3': '364406365360',
  'ap-southeast-3': '907027046896',
  'eu-south-1': '692866216735',
  'me-south-1': '217643126080',
  'il-central-1': '780543022126',
  'ca-west-1': '204538143572',
  'cn-north-1': '727897471807',
  'cn-northwest-1': '727897471807',
};

/** The ECR registry host serving the Triton image in a region. */
export function tritonImageRegistry(region: string): string {
  const account = TRITON_IMAGE_ACCOUNTS[region] ?? DEFAULT_TRITON_IMAGE_ACCOUNT;
  const domain = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `${account}.dkr.ecr.${region}.${domain}`;
}

/** `<account>.dkr.ecr.<region>.<domain>/sagemaker-tritonserver:<version>`, e.g. version `24.09-py3`. */
export function tritonBaseImage(region: string, version: string): string {
  if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) {
    throw new Error(`region must be a concrete AWS region like us-east-1, got ${JSON.stringify(region)}`);
  }
  return `${tritonImageRegistry(region)}/sagemaker-tritonserver:${version}`;
}
