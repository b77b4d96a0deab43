import * as z from '../../contracts/zod';
import { BadRequestError } from './errors';

/** One page of a listing; `nextToken`, when present, resumes it. */
export interface Page<T> {
  readonly items: T[];
  readonly nextToken?: string;
}

/** An opaque `nextToken` for a client: the position to resume from, base64url-encoded JSON. */
export function encodePageToken(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** A token is only ever one we issued: anything else is a 400, never a DynamoDB error. */
export function decodePageToken<T>(schema: z.ZodMiniType<T>, token: string): T {
  try {
    return schema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw new BadRequestError('nextToken is not a token this API issued');
  }
}

/**
 * A DynamoDB `LastEvaluatedKey` made of exactly these string attributes. `partition` pins the
 * queried index partition: a token from another partition (another owner's listing, or forged)
 * would make DynamoDB reject the query, so it is refused here as a bad token instead.
 */
export function keyTokenSchema(attributes: readonly string[], partition: Record<string, string> = {}) {
  // Key attributes are never empty strings: DynamoDB refuses a start key with one (ValidationException).
  const value = z.strictObject({ S: z.string().check(z.minLength(1), z.maxLength(400)) });
  return z.strictObject(
    Object.fromEntries(
      attributes.map((name) => [
        name,
        name in partition ? z.strictObject({ S: z.literal(partition[name]!) }) : value,
      ]),
    ),
  );
}
