import { S3Client } from '@aws-sdk/client-s3';
import { FUNCTIONS } from '../../../contracts/functions';
import { AliasNameSchema, ModelNameSchema, VersionSchema } from '../../../contracts/registry-schemas';
import * as z from '../../../contracts/zod';
import { type ApiRequest, apiHandler } from '../../edge/api-handler';
import { apiEnvironment, dynamodb, modelCache, rateLimiter } from '../../edge/api-runtime';
import { NotFoundError } from '../../edge/errors';
import { json, parseJsonBody } from '../../edge/http';
import { parseInput } from '../../edge/validation';
import { instrument } from '../../observability/instrument';
import { tracer } from '../../observability/tracer';
import { CompleteUploadSchema, StartUploadSchema } from '../../registry/api-schemas';
import { ModelRegistry } from '../../registry/registry';
import { archiveRetirement, parseStoreUrl } from '../../registry/retire';
import { WarmUpQueue } from '../../registry/warm-up-queue';
import { sqs } from '../../sqs';
import {
  ListModelsQuerySchema,
  PutAliasSchema,
  RegisterVersionSchema,
  RegistryService,
  VersionPatchSchema,
} from './registry-service';
import { ModelUploads } from './uploads';

// Control-plane reads are strongly consistent and uncached; writes invalidate the container's cache.
const environment = FUNCTIONS.models.environment.parse(process.env);
// One client for uploads and retirement. Presigned URLs carry only the checksum the caller states,
// not one the SDK computes of an empty body.
const s3 = tracer.captureAWSv3Client(new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' }));
const registry = new ModelRegistry(
  dynamodb,
  apiEnvironment.REGISTRY_TABLE_NAME,
  archiveRetirement(dynamodb, s3, environment),
);
const warmUps = new WarmUpQueue(sqs, environment.WARMUP_QUEUE_URL);
const service = new RegistryService(registry, modelCache, environment.INVOKABLE_ENDPOINT_NAMES);
const uploads = new ModelUploads(
  {
    client: s3,
    bucket: parseStoreUrl(environment.MODEL_STORE_URL).bucket,
    endpointName: environment.MODEL_UPLOAD_ENDPOINT_NAME,
  },
  (version) => service.register(version),
  async (name, version) => (await registry.getVersion(name, version)) !== undefined,
  async (message) => {
    try {
      await warmUps.send(message);
    } catch (error) {
      // Unqueued, nothing would ever end its LOADING: it fails now and can be pushed again.
      await service.failUnqueued(message.name, message.version, (error as Error).message);
      throw error;
    }
  },
);

const PathSchema = z.object({
  model: z.optional(ModelNameSchema),
  version: z.optional(VersionSchema),
  alias: z.optional(AliasNameSchema),
});

async function route({ event, requestId }: ApiRequest) {
  const path = parseInput(PathSchema, event.pathParameters ?? {}, 'path');
  const model = path.model ?? '';
  const version = path.version ?? '';
  const alias = path.alias ?? '';
  switch (`${event.httpMethod} ${event.resource}`) {
    case 'POST /v1/models': {
      const stored = await service.register(
        parseInput(RegisterVersionSchema, parseJsonBody(event), 'model version'),
      );
      return json(201, stored, requestId, {
        Location: `/v1/models/${stored.name}/versions/${stored.version}`,
      });
    }
    case 'GET /v1/models': {
      const page = await service.list(
        parseInput(ListModelsQuerySchema, event.queryStringParameters ?? {}, 'query'),
      );
      return json(
        200,
        { models: page.items, ...(page.nextToken ? { nextToken: page.nextToken } : {}) },
        requestId,
      );
    }
    case 'GET /v1/models/{model}':
      return json(200, await service.getModel(model), requestId);
    case 'GET /v1/models/{model}/versions/{version}':
      return json(200, await service.getVersion(model, version), requestId);
    case 'PATCH /v1/models/{model}/versions/{version}': {
      const patch = parseInput(VersionPatchSchema, parseJsonBody(event), 'version update');
      return json(200, await service.updateVersion(model, version, patch), requestId);
    }
    case 'DELETE /v1/models/{model}/versions/{version}':
      await service.deleteVersion(model, version);
      return { statusCode: 204, body: '' };
    case 'POST /v1/models/{model}/versions/{version}/upload': {
      const input = parseInput(StartUploadSchema, parseJsonBody(event), 'upload');
      return json(200, await uploads.start(model, version, input), requestId);
    }
    case 'POST /v1/models/{model}/versions/{version}/upload/complete': {
      const input = parseInput(CompleteUploadSchema, parseJsonBody(event), 'upload completion');
      const stored = await uploads.complete(model, version, input);
      return json(201, stored, requestId, {
        Location: `/v1/models/${stored.name}/versions/${stored.version}`,
      });
    }
    case 'PUT /v1/models/{model}/aliases/{alias}': {
      const input = parseInput(PutAliasSchema, parseJsonBody(event), 'alias');
      return json(200, await service.putAlias(model, alias, input), requestId);
    }
    case 'DELETE /v1/models/{model}/aliases/{alias}':
      await service.deleteAlias(model, alias);
      return { statusCode: 204, body: '' };
    default:
      throw new NotFoundError(`no route for ${event.httpMethod} ${event.resource}`);
  }
}

export const handler = instrument(
  apiHandler(route, { errorStyle: 'control', allowedOrigins: apiEnvironment.ALLOWED_ORIGINS, rateLimiter }),
);
