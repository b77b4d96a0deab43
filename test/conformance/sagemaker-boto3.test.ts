/**
 * InvokeEndpoint as AWS's own clients call it, against the model server's SageMaker route: boto3
 * (boto3_invoke.py) and the JavaScript SDK. The expectations come from botocore's SageMaker Runtime
 * model (botocore/data/sagemaker-runtime/2017-05-13/service-2.json: header names, the ModelError and
 * ValidationError shapes and status codes) and from Triton's SageMaker server (src/sagemaker_server.cc
 * of triton-inference-server/server: the binary+json content type of binary answers).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { InvokeEndpointCommand, ModelError, ValidationError } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository } from '../../triton-image/model-repository';
import { localSageMaker } from '../helpers/local-clients';
import { LOCAL_ENDPOINT } from './targets';

const SCRIPT = path.join(import.meta.dirname, 'boto3_invoke.py');
const INSTALL_HINT = 'boto3 is needed for these cases: apt-get install python3-boto3 (or pip install boto3)';

interface Boto3Result {
  case: string;
  status: number;
  content_type?: string;
  variant?: string;
  answer?: { outputs: { name: string; datatype: string; shape: number[]; data?: unknown[] }[] };
  binary?: number[];
  code?: string;
  message?: string;
  original_status?: number;
  original_message?: string;
  log_stream_arn?: string;
}

let server: ModelServer;
const results = new Map<string, Boto3Result>();

beforeAll(async () => {
  server = await startModelServer({
    models: await loadModelRepository('triton-image/model_repository'),
    endpoints: { [LOCAL_ENDPOINT]: {} },
  });
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('python3', [SCRIPT, server.url, LOCAL_ENDPOINT], {
      timeout: 60_000,
    }));
  } catch (error) {
    const failure = error as { code?: number; stderr?: string };
    // Not a skip: a machine without boto3 cannot check what these cases check.
    if (failure.code === 3) throw new Error(`${INSTALL_HINT}\n${failure.stderr ?? ''}`);
    throw error;
  }
  for (const line of stdout.trim().split('\n')) {
    const result = JSON.parse(line) as Boto3Result;
    results.set(result.case, result);
  }
});

afterAll(async () => {
  await server?.close();
});

const result = (name: string) => {
  const found = results.get(name);
  if (found === undefined) throw new Error(`boto3_invoke.py printed no result for ${name}`);
  return found;
};

describe('boto3 invoke_endpoint against the SageMaker route', () => {
  it('answers JSON with the invoked variant in x-Amzn-Invoked-Production-Variant [botocore: InvokeEndpointOutput]', () => {
    const json = result('json');
    expect(json).toMatchObject({ status: 200, content_type: 'application/json', variant: 'AllTraffic' });
    expect(json.answer?.outputs.find((o) => o.name === 'OUTPUT0')?.data).toEqual(
      Array.from({ length: 16 }, (_, i) => i + 1),
    );
  });

  it('takes binary+json;json-header-size=N and answers binary outputs in the same type [server: src/sagemaker_server.cc; qa/L0_sagemaker/sagemaker_test.py test_inference_client_generated_response_binary]', () => {
    const binary = result('binary');
    const headerSize = binary.content_type?.match(
      /^application\/vnd\.sagemaker-triton\.binary\+json;json-header-size=(\d+)$/,
    );
    expect(headerSize, binary.content_type).not.toBeNull();
    const output0 = new Int32Array(Uint8Array.from(binary.binary ?? []).buffer);
    expect([...output0]).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(binary.answer?.outputs.find((o) => o.name === 'OUTPUT1')?.data).toEqual(
      Array.from({ length: 16 }, (_, i) => i - 1),
    );
  });

  it("wraps Triton's 400 in a 424 ModelError with OriginalStatusCode, OriginalMessage and LogStreamArn [botocore: ModelError]", () => {
    const error = result('model-error');
    expect(error).toMatchObject({ status: 424, code: 'ModelError', original_status: 400 });
    expect(JSON.parse(error.original_message ?? '{}').error).toContain(
      // Triton on SageMaker names the model by its TargetModel (src/sagemaker_server.cc).
      "unexpected shape for input 'INPUT0' for model 'simple.tar.gz'. Expected [-1,16], got [1,15]",
    );
    expect(error.log_stream_arn).toMatch(
      /^arn:aws:logs:us-east-1:\d{12}:log-group:\/aws\/sagemaker\/Endpoints\//,
    );
  });

  it('refuses a triton_ request parameter as Triton does, wrapped as a ModelError [server: src/http_server.cc ParseJsonTritonParams]', () => {
    const error = result('reserved-parameter');
    expect(error).toMatchObject({ status: 424, code: 'ModelError', original_status: 400 });
    expect(JSON.parse(error.original_message ?? '{}').error).toBe(
      "parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified.",
    );
  });

  it('returns a classification as BYTES through SageMaker [server: docs/protocol/extension_classification.md]', () => {
    const classes = result('classification').answer?.outputs[0];
    expect(classes).toMatchObject({ name: 'PROBABILITIES', datatype: 'BYTES', shape: [1, 1] });
    expect(String(classes?.data?.[0])).toMatch(/^0\.\d{6}:0:setosa$/);
  });

  it('answers an unknown endpoint with a 400 ValidationError [botocore: ValidationError]', () => {
    expect(result('unknown-endpoint')).toMatchObject({ status: 400, code: 'ValidationError' });
  });
});

describe('the JavaScript SDK reads the same shapes', () => {
  it('raises ModelError and ValidationError as typed exceptions [botocore: InvokeEndpoint errors]', async () => {
    const client = localSageMaker(server.url);
    const invoke = (EndpointName: string, Body: string) =>
      client.send(
        new InvokeEndpointCommand({
          EndpointName,
          TargetModel: 'simple.tar.gz',
          ContentType: 'application/json',
          Body,
        }),
      );
    await expect(invoke(LOCAL_ENDPOINT, '{"inputs": []}')).rejects.toBeInstanceOf(ModelError);
    await expect(invoke('no-such-endpoint', '{}')).rejects.toBeInstanceOf(ValidationError);
  });
});
