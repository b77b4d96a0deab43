declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** Milliseconds a table spends in CREATING/DELETING/UPDATING; 0 makes changes immediate. */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    /** LevelDB directory; in memory when omitted. */
    path?: string;
  }
  export default function dynalite(options?: DynaliteOptions): Server;
}
