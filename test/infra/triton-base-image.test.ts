import { Aws } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { tritonBaseImage } from '../../lib/triton-base-image';

describe('tritonBaseImage', () => {
  it.each([
    ['us-east-1', '763104351884.dkr.ecr.us-east-1.amazonaws.com'],
    ['eu-west-1', '763104351884.dkr.ecr.eu-west-1.amazonaws.com'],
    ['af-south-1', '626614931356.dkr.ecr.af-south-1.amazonaws.com'],
    ['ap-east-1', '871362719292.dkr.ecr.ap-east-1.amazonaws.com'],
    ['ap-northeast-3', '364406365360.dkr.ecr.ap-northeast-3.amazonaws.com'],
    ['ap-southeast-3', '907027046896.dkr.ecr.ap-southeast-3.amazonaws.com'],
    ['eu-south-1', '692866216735.dkr.ecr.eu-south-1.amazonaws.com'],
    ['me-south-1', '217643126080.dkr.ecr.me-south-1.amazonaws.com'],
    ['il-central-1', '780543022126.dkr.ecr.il-central-1.amazonaws.com'],
    ['ca-west-1', '204538143572.dkr.ecr.ca-west-1.amazonaws.com'],
    ['cn-north-1', '727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn'],
    ['cn-northwest-1', '727897471807.dkr.ecr.cn-northwest-1.amazonaws.com.cn'],
  ])('uses the %s registry', (region, registry) => {
    expect(tritonBaseImage(region, '24.09-py3')).toBe(`${registry}/sagemaker-tritonserver:24.09-py3`);
  });

  it('rejects a region that is not concrete or has no published image, and an unpublished tag', () => {
    expect(() => tritonBaseImage(Aws.REGION, '24.09-py3')).toThrow(
      /no SageMaker Triton image in "\$\{Token\[AWS\.Region\.\d+\]\}"/,
    );
    expect(() => tritonBaseImage('us-gov-west-1', '24.09-py3')).toThrow(/regions with one: af-south-1, /);
    expect(() => tritonBaseImage('us-east-1', '22.01-py3')).toThrow(/published tags: 23\.12-py3, /);
  });
});
