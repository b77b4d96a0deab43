import type * as z from '../../contracts/zod';
import { BadRequestError } from './errors';

/** Parses input with a zod schema, turning its issues into one 400 that names each bad field. */
export function parseInput<T extends z.ZodMiniType>(schema: T, input: unknown, what: string): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({
    field: issue.path.join('.') || '(root)',
    message: issue.message,
  }));
  const summary = details.map((d) => `${d.field}: ${d.message}`).join('; ');
  throw new BadRequestError(`invalid ${what}: ${summary}`, details);
}
