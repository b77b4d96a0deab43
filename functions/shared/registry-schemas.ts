/**
 * The registry's zod schemas, apart from its DynamoDB code so that modules which only describe or
 * validate shapes (the OpenAPI document served by the health function) bundle no AWS SDK.
 */
import * as z from 'zod';
import { DATATYPES } from './model-signature';

export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Versions are positive integers, as Triton's version folders are. */
export const MODEL_VERSION = /^[1-9][0-9]{0,9}$/;
/** Aliases start with a letter, so an alias can never be mistaken for a version in a URL. */
export const ALIAS_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

export const ModelNameSchema = z
  .string()
  .regex(MODEL_NAME, 'must be 1-64 letters, digits, _ . - and start alphanumeric');
export const VersionSchema = z.string().regex(MODEL_VERSION, 'must be a positive integer');
export const AliasNameSchema = z
  .string()
  .regex(ALIAS_NAME, 'must be 1-32 letters, digits, _ - and start with a letter');

export const TensorSignatureSchema = z.object({
  name: z.string().min(1).max(128),
  datatype: z.enum(DATATYPES),
  shape: z.array(z.number().int().min(-1)).min(0).max(16).readonly(),
});

/** Where a version is served: a SageMaker endpoint (and variant, and model on multi-model endpoints). */
export const BackendSchema = z.object({
  endpointName: z.string().regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/, 'must be a SageMaker endpoint name'),
  variant: z.string().min(1).max(63).optional(),
  targetModel: z.string().min(1).max(1024).optional(),
  weight: z.number().int().min(1).max(100).default(100),
});
export type Backend = z.infer<typeof BackendSchema>;

export const VERSION_STATUSES = ['ACTIVE', 'DISABLED'] as const;

export const ModelVersionSchema = z.object({
  name: ModelNameSchema,
  version: VersionSchema,
  platform: z.string().min(1).max(64),
  inputs: z.array(TensorSignatureSchema).min(1).max(64).readonly(),
  outputs: z.array(TensorSignatureSchema).min(1).max(64).readonly(),
  maxBatchSize: z.number().int().min(0),
  backends: z.array(BackendSchema).min(1).max(16),
  status: z.enum(VERSION_STATUSES),
  description: z.string().max(1024).optional(),
  labels: z.record(z.string().max(128), z.string().max(256)).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ModelVersion = z.infer<typeof ModelVersionSchema>;

export const AliasRouteSchema = z.object({
  version: VersionSchema,
  weight: z.number().int().min(1).max(100),
});
export const AliasSchema = z.object({
  name: ModelNameSchema,
  alias: AliasNameSchema,
  routes: z.array(AliasRouteSchema).min(1).max(16),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Alias = z.infer<typeof AliasSchema>;

export const ModelHeaderSchema = z.object({ name: ModelNameSchema, createdAt: z.string() });
export type ModelSummary = z.infer<typeof ModelHeaderSchema>;
