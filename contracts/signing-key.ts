/**
 * The HS256 signing key's form, which CloudFormation (the secret's first value) and the rotation
 * function (every later one) both generate with Secrets Manager's password generator: 64 ASCII
 * letters and digits, about 380 bits, used as their UTF-8 bytes.
 */
export const SIGNING_KEY_FORMAT = {
  length: 64,
  excludePunctuation: true,
  includeSpace: false,
} as const;

/** What a generated key looks like; the rotation function refuses to make any other value current. */
export const SIGNING_KEY_PATTERN = new RegExp(`^[A-Za-z0-9]{${SIGNING_KEY_FORMAT.length}}$`);
