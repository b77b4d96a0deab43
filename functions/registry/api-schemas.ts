/**
 * The model registry's request shapes, apart from the service so that the OpenAPI document can
 * describe them without bundling the registry's DynamoDB code.
 */

import { MAX_ARCHIVE_BYTES } from '../../contracts/model-store';
import {
  AliasRouteSchema,
  BackendSchema,
  CLIENT_VERSION_STATUSES,
  ModelVersionSchema,
} from '../../contracts/registry-schemas';
import * as z from '../../contracts/zod';

/** Most labels a version may carry, as many as AWS allows tags on a resource. */
export const MAX_LABELS = 50;

/**
 * Labels as clients write them. Their number is bounded so that a version, whose other fields are
 * bounded too, stays far below DynamoDB's 400 KB item limit; keys are attribute names of a map,
 * which DynamoDB requires to be at least one character long. Stored versions are read with the
 * looser `LabelsSchema`, so none written before these bounds becomes unreadable.
 */
export const WritableLabelsSchema = z
  .record(z.string().check(z.minLength(1), z.maxLength(128)), z.string().check(z.maxLength(256)))
  .check(
    z.refine((labels) => Object.keys(labels).length <= MAX_LABELS, `must have at most ${MAX_LABELS} labels`),
  );

/**
 * A backend as clients write it: the variant and target model must be values InvokeEndpoint takes
 * in its `X-Amzn-SageMaker-Target-Variant` and `-Target-Model` headers (botocore's
 * sagemaker-runtime service-2.json: TargetVariantHeader, at most 63 characters matching
 * `^[a-zA-Z0-9](-*[a-zA-Z0-9])*`; TargetModelHeader, 1-1024 characters matching
 * `\A\S[\p{Print}]*\z`, read here as printable ASCII not starting with a space). Anything else
 * could never be sent, and every inference would fail as if the endpoint were down. Stored versions
 * are read with the looser `BackendSchema`, so none written before these bounds becomes unreadable.
 */
const WritableBackendSchema = z.object({
  ...BackendSchema.shape,
  variant: z.optional(
    z
      .string()
      .check(
        z.maxLength(63),
        z.regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/, 'must be a SageMaker production variant name'),
      ),
  ),
  targetModel: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^[\x21-\x7e][\x20-\x7e]{0,1023}$/,
          'must be 1-1024 printable ASCII characters, the first not a space',
        ),
      ),
  ),
});
const WritableBackendsSchema = z.array(WritableBackendSchema).check(z.minLength(1), z.maxLength(16));

/** `POST /v1/models`: a version as a client registers it; status defaults to ACTIVE, timestamps are ours. */
export const RegisterVersionSchema = z
  .strictObject({
    ...z.omit(ModelVersionSchema, {
      createdAt: true,
      updatedAt: true,
      status: true,
      labels: true,
      statusReason: true,
    }).shape,
    status: z._default(z.enum(CLIENT_VERSION_STATUSES), 'ACTIVE'),
    labels: z.optional(WritableLabelsSchema),
    backends: WritableBackendsSchema,
  })
  .check(
    z.superRefine((v, ctx) => {
      for (const side of ['inputs', 'outputs'] as const) {
        const names = v[side].map((t) => t.name);
        if (new Set(names).size !== names.length) {
          ctx.addIssue({ code: 'custom', path: [side], message: 'tensor names must be unique' });
        }
        v[side].forEach((tensor, i) => {
          if (v.maxBatchSize > 0 && tensor.shape[0] !== -1) {
            ctx.addIssue({
              code: 'custom',
              path: [side, i, 'shape'],
              message: 'must start with the batch dimension -1 when maxBatchSize > 0',
            });
          }
        });
      }
    }),
  );

/** `PATCH .../versions/{v}`: what may change after registration; null removes an optional field. */
export const VersionPatchSchema = z
  .strictObject({
    status: z.optional(z.enum(CLIENT_VERSION_STATUSES)),
    backends: z.optional(WritableBackendsSchema),
    description: z.optional(z.nullable(z.string().check(z.maxLength(1024)))),
    labels: z.optional(z.nullable(WritableLabelsSchema)),
  })
  .check(z.refine((p) => Object.values(p).some((v) => v !== undefined), 'name at least one field to change'));

/** `PUT .../aliases/{alias}`: weighted routes over distinct versions, weights summing to 100. */
export const PutAliasSchema = z
  .strictObject({ routes: z.array(AliasRouteSchema).check(z.minLength(1), z.maxLength(16)) })
  .check(
    z.refine((a) => a.routes.reduce((sum, r) => sum + r.weight, 0) === 100, {
      message: 'route weights must sum to 100',
      path: ['routes'],
    }),
    z.refine((a) => new Set(a.routes.map((r) => r.version)).size === a.routes.length, {
      message: 'each version may appear once',
      path: ['routes'],
    }),
  );

export const ListModelsQuerySchema = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 20),
  nextToken: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
});

/** Hex SHA-256 of an archive's bytes, as the caller computes it before uploading. */
export const Sha256Schema = z.string().check(z.regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'));

/** `POST .../versions/{v}/upload`: the archive the caller is about to upload. */
export const StartUploadSchema = z.strictObject({
  sha256: Sha256Schema,
  size: z.number().check(z.int(), z.minimum(1), z.maximum(MAX_ARCHIVE_BYTES)),
});

/** `POST .../versions/{v}/upload/complete`: the uploaded archive, its parts if it went up in parts, and the version's metadata. */
export const CompleteUploadSchema = z.strictObject({
  sha256: Sha256Schema,
  uploadId: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
  parts: z.optional(
    z
      .array(
        z.strictObject({
          partNumber: z.number().check(z.int(), z.minimum(1), z.maximum(10_000)),
          etag: z.string().check(z.minLength(1), z.maxLength(256)),
        }),
      )
      .check(z.minLength(1), z.maxLength(10_000)),
  ),
  description: z.optional(z.string().check(z.maxLength(1024))),
  labels: z.optional(WritableLabelsSchema),
});
