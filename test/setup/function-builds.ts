import { fileURLToPath } from 'node:url';
import { FUNCTIONS } from '../../contracts/functions';
import { functionModule, runtimeModule } from '../../local/aws/function-builds';

const path = (relative: string) => fileURLToPath(new URL(`../../${relative}`, import.meta.url));

/**
 * Builds every function's module and the local runtime's own once before any file runs. Kept under
 * `.local/lambda/`, they are reused by every platform the files start; without this, a clean clone's
 * first platforms, started side by side, would each bundle every function at once.
 */
export default async function setup(): Promise<void> {
  runtimeModule(path('local/aws/lambda-container.ts'));
  runtimeModule(path('local/aws/sdk-faults.ts'));
  await Promise.all(Object.values(FUNCTIONS).map((fn) => functionModule(path(fn.entry))));
}
