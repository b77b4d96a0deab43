import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A TCP socket in the LISTEN state, as the kernel lists it in /proc/net/tcp and tcp6 (Linux only). */
export interface ListeningSocket {
  /** The bound address, canonical: `127.0.0.1`, `0.0.0.0`, `::`, `::ffff:7f00:1`... */
  readonly address: string;
  readonly port: number;
  readonly inode: string;
}

/** The `st` column's value for TCP_LISTEN. */
const LISTEN = '0A';

/** Every listening TCP socket of this network namespace. */
export function listeningSockets(): ListeningSocket[] {
  return (['tcp', 'tcp6'] as const).flatMap((table) =>
    readFileSync(`/proc/net/${table}`, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === LISTEN)
      .map((fields) => {
        const [address = '', port = ''] = fields[1]!.split(':');
        return { address: decodeAddress(address), port: Number.parseInt(port, 16), inode: fields[9]! };
      }),
  );
}

/** The inodes of the sockets process `pid` holds open. */
export function socketInodesOf(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed since the listing
    }
  }
  return inodes;
}

/** The process holding the socket with `inode`, among those this user may inspect. */
export function ownerOf(inode: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if (socketInodesOf(pid).has(inode)) return pid;
    } catch {
      // another user's process, or one that has exited
    }
  }
  return undefined;
}

/**
 * The kernel prints each 32-bit word of an address in host byte order (little-endian here); the
 * URL parser then gives IPv6 addresses their canonical, compressed form.
 */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) =>
    (word.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16)),
  );
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}
