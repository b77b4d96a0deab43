/**
 * The registry's zod schemas, apart from its DynamoDB code so that modules which only describe or
 * validate shapes (the OpenAPI document served by the health function) bundle no AWS SDK.
 */

import { DATATYPES } from './model-signature';
import * as z from './zod';

export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Versions are positive integers, as Triton's version folders are. */
export const MODEL_VERSION = /^[1-9][0-9]{0,9}$/;
/** Aliases start with a letter, so an alias can never be mistaken for a version in a URL. */
export const ALIAS_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

export const ModelNameSchema = z
  .string()
  .check(z.regex(MODEL_NAME, 'must be 1-64 letters, digits, _ . - and start alphanumeric'));
export const VersionSchema = z.string().check(z.regex(MODEL_VERSION, 'must be a positive integer'));
export const AliasNameSchema = z
  .string()
  .check(z.regex(ALIAS_NAME, 'must be 1-32 letters, digits, _ - and start with a letter'));

export const TensorSignatureSchema = z.object({
  name: z.string().check(z.minLength(1), z.maxLength(128)),
  datatype: z.enum(DATATYPES),
  shape: z.readonly(z.array(z.number().check(z.int(), z.minimum(-1))).check(z.minLength(0), z.maxLength(16))),
});

/** Where a version is served: a SageMaker endpoint (and variant, and model on multi-model endpoints). */
export const BackendSchema = z.object({
  endpointName: z
    .string()
    .check(z.regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/, 'must be a SageMaker endpoint name')),
  variant: z.optional(z.string().check(z.minLength(1), z.maxLength(63))),
  targetModel: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
  weight: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(100)), 100),
});
export type Backend = z.infer<typeof BackendSchema>;

/**
 * A version's life: a pushed version is `LOADING` until its warm-up inference succeeds (`ACTIVE`)
 * or fails (`FAILED`, with `statusReason`); only `ACTIVE` versions receive traffic. A client sets
 * only `ACTIVE` and `DISABLED` (docs/shipping-models.md, "States").
 */
export const VERSION_STATUSES = ['ACTIVE', 'DISABLED', 'LOADING', 'FAILED'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];
/** The statuses a client may register or patch a version with; the warm-up sets the others. */
export const CLIENT_VERSION_STATUSES = ['ACTIVE', 'DISABLED'] as const satisfies readonly VersionStatus[];

/** Labels: short string keys to string values. */
export const LabelsSchema = z.record(z.string().check(z.maxLength(128)), z.string().check(z.maxLength(256)));

export const ModelVersionSchema = z.object({
  name: ModelNameSchema,
  version: VersionSchema,
  platform: z.string().check(z.minLength(1), z.maxLength(64)),
  inputs: z.readonly(z.array(TensorSignatureSchema).check(z.minLength(1), z.maxLength(64))),
  outputs: z.readonly(z.array(TensorSignatureSchema).check(z.minLength(1), z.maxLength(64))),
  maxBatchSize: z.number().check(z.int(), z.minimum(0)),
  backends: z.array(BackendSchema).check(z.minLength(1), z.maxLength(16)),
  status: z.enum(VERSION_STATUSES),
  /** Why a version is `FAILED`: the warm-up's answer from the model, or the budget that ran out. */
  statusReason: z.optional(z.string().check(z.maxLength(2048))),
  description: z.optional(z.string().check(z.maxLength(1024))),
  labels: z.optional(LabelsSchema),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ModelVersion = z.infer<typeof ModelVersionSchema>;

export const AliasRouteSchema = z.object({
  version: VersionSchema,
  weight: z.number().check(z.int(), z.minimum(1), z.maximum(100)),
});
export const AliasSchema = z.object({
  name: ModelNameSchema,
  alias: AliasNameSchema,
  routes: z.array(AliasRouteSchema).check(z.minLength(1), z.maxLength(16)),
  /** The routes before the last change that moved them, so that a rollback can restore them. */
  previousRoutes: z.optional(z.array(AliasRouteSchema).check(z.minLength(1), z.maxLength(16))),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Alias = z.infer<typeof AliasSchema>;

export const ModelHeaderSchema = z.object({ name: ModelNameSchema, createdAt: z.string() });
export type ModelSummary = z.infer<typeof ModelHeaderSchema>;
