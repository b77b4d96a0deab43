/**
 * A model server on its own, for the bench to run in a child process so that the load generator's
 * CPU time is not the server's: `tsx bench/model-server-process.ts <model repository>`. Prints
 * `Model server <url>` when it is ready, and on SIGINT or SIGTERM `CPU <µs>`, the CPU time it used
 * since (all its threads), before it stops.
 */
import { cpuMicros } from '../local/aws/platform-control';
import { startModelServer } from '../local/model-server/server';
import { loadModelRepository } from '../triton-image/model-repository';

const repository = process.argv[2];
if (repository === undefined) {
  console.error('usage: tsx bench/model-server-process.ts <model repository>');
  process.exit(2);
}
const server = await startModelServer({ models: await loadModelRepository(repository), endpoints: {} });
const ready = cpuMicros();
console.log(`Model server ${server.url}`);

const stop = async () => {
  console.log(`CPU ${cpuMicros() - ready}`);
  await server.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
