import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { listeningSockets, ownerOf, socketInodesOf } from '../helpers/listening-sockets';

const portOf = (url: string) => Number(new URL(url).port);

// The emulators authenticate no one: any address but loopback would let the network send batch
// jobs as any owner, purge the queues, rewrite the registry or read the signing key.
describe.runIf(process.platform === 'linux')('the sockets `npm start` listens on', () => {
  let platform: PlatformProcess;

  beforeAll(async () => {
    // With the control API too, the one server that only starts on request.
    platform = await startPlatformProcess({ LOCAL_CONTROL_PORT: '0' });
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it('are all bound to 127.0.0.1', () => {
    const sockets = listeningSockets();
    const api = sockets.find((s) => s.port === portOf(platform.apiUrl));
    expect(api, 'the API socket').toBeDefined();
    const pid = ownerOf(api!.inode);
    expect(pid, 'the process serving the API').toBeDefined();
    const owned = socketInodesOf(pid!);
    const platformSockets = sockets.filter((s) => owned.has(s.inode));

    // API, model server, console, DynamoDB, SQS, Secrets Manager and the control API.
    expect(platformSockets.length).toBeGreaterThanOrEqual(7);
    expect(platformSockets.map((s) => s.port)).toEqual(
      expect.arrayContaining(
        [
          platform.apiUrl,
          platform.modelServerUrl,
          platform.consoleUrl,
          platform.dynamodbUrl,
          platform.sqsUrl,
          platform.controlUrl!,
        ].map(portOf),
      ),
    );
    expect(platformSockets.filter((s) => s.address !== '127.0.0.1')).toEqual([]);
  });
});
