import * as z from 'zod';
import { BadRequestError } from './errors';

/** An opaque `nextToken` for a client: the position to resume from, base64url-encoded JSON. */
export function encodePageToken(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** A token is only ever one we issued: anything else is a 400, never a DynamoDB error. */
export function decodePageToken<T>(schema: z.ZodType<T>, token: string): T {
  try {
    return schema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw new BadRequestError('nextToken is not a token this API issued');
  }
}

/** A DynamoDB `LastEvaluatedKey` made of exactly these string attributes. */
export function keyTokenSchema(attributes: readonly string[]) {
  const value = z.object({ S: z.string().max(400) }).strict();
  return z.strictObject(Object.fromEntries(attributes.map((name) => [name, value])));
}
