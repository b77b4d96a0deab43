/**
 * A model server on its own, for the bench to run in a child process so that the load generator's
 * CPU time is not the server's: `tsx bench/model-server-process.ts <model repository>`. Prints
 * `Model server <url>` when it is ready and stops on SIGINT or SIGTERM.
 */
import { startModelServer } from '../local/model-server/server';
import { loadModelRepository } from '../triton-image/model-repository';

const repository = process.argv[2];
if (repository === undefined) {
  console.error('usage: tsx bench/model-server-process.ts <model repository>');
  process.exit(2);
}
const server = await startModelServer({ models: await loadModelRepository(repository), endpoints: {} });
console.log(`Model server ${server.url}`);

const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
