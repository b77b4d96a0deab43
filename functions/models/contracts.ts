/**
 * The model registry's request shapes, apart from the service so that the OpenAPI document can
 * describe them without bundling the registry's DynamoDB code.
 */
import * as z from 'zod';
import {
  AliasRouteSchema,
  BackendSchema,
  ModelVersionSchema,
  VERSION_STATUSES,
} from '../shared/registry-schemas';

/** `POST /v1/models`: a version as a client registers it; status defaults to ACTIVE, timestamps are ours. */
export const RegisterVersionSchema = ModelVersionSchema.omit({
  createdAt: true,
  updatedAt: true,
  status: true,
})
  .extend({ status: z.enum(VERSION_STATUSES).default('ACTIVE') })
  .strict()
  .superRefine((v, ctx) => {
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
  });

/** `PATCH .../versions/{v}`: what may change after registration; null removes an optional field. */
export const VersionPatchSchema = z
  .object({
    status: z.enum(VERSION_STATUSES).optional(),
    backends: z.array(BackendSchema).min(1).max(16).optional(),
    description: z.string().max(1024).nullable().optional(),
    labels: z.record(z.string().max(128), z.string().max(256)).nullable().optional(),
  })
  .strict()
  .refine((p) => Object.values(p).some((v) => v !== undefined), 'name at least one field to change');

/** `PUT .../aliases/{alias}`: weighted routes over distinct versions, weights summing to 100. */
export const PutAliasSchema = z
  .object({ routes: z.array(AliasRouteSchema).min(1).max(16) })
  .strict()
  .refine((a) => a.routes.reduce((sum, r) => sum + r.weight, 0) === 100, {
    message: 'route weights must sum to 100',
    path: ['routes'],
  })
  .refine((a) => new Set(a.routes.map((r) => r.version)).size === a.routes.length, {
    message: 'each version may appear once',
    path: ['routes'],
  });

export const ListModelsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  nextToken: z.string().min(1).max(2048).optional(),
});
