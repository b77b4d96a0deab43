// Entry of a local Lambda container's worker thread. Plain JavaScript because, on Node.js 20, tsx's
// hooks from the parent (`tsx bin/local.ts`, vitest) do not reach worker threads: the container
// module is TypeScript, so tsx is registered here when the thread cannot load .ts by itself.
const container = new URL('./lambda-container.ts', import.meta.url).href;
try {
  await import(container);
} catch (error) {
  if (error?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
  const { register } = await import('tsx/esm/api');
  register();
  // A new URL: the failed load stays cached under the first one.
  await import(`${container}?tsx`);
}
