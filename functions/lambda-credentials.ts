import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * The credential chain of every bundled SDK client (lib/bundling.ts aliases
 * `@aws-sdk/credential-provider-node` to this module). Lambda hands a function its role's
 * credentials in environment variables, so the default chain's SSO, profile, web identity, process
 * and instance metadata providers (about 100 KB with the STS and SSO clients they carry) would only
 * lengthen every cold start.
 */
export const defaultProvider = (_init?: unknown) => fromEnv();
