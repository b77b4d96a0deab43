import { fileURLToPath } from 'node:url';

/** The repository root (it holds package.json and package-lock.json); construct defaults resolve against it. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
