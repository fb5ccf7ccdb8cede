/**
 * Where a store's admin socket lives, and its credential.
 *
 * The socket is also the store's lock: whoever listens on it (a gateway, or `tago-edge queue replay` on a
 * store no gateway holds) is the file's only writer, and binding an address already bound fails. On Linux
 * it is an abstract socket named after the store directory, so a process killed with SIGKILL leaves nothing
 * stale behind; elsewhere it is `admin.sock` in the store directory. Abstract sockets carry no file
 * permissions, so every request but `GET /v1/holder` needs the token in `admin.token` (mode 0600, written
 * anew by each holder): only a user who can read the store directory can drive the gateway.
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin.token';

/** Who holds a store: a gateway, or `tago-edge queue` writing a store no gateway holds. */
export type HolderRole = 'gateway' | 'queue-cli';

export function adminAddress(storeDir: string): string {
  const dir = realpathSync(storeDir);
  if (process.platform === 'linux') {
    return `\0tago-edge-admin-${createHash('sha256').update(dir).digest('hex').slice(0, 32)}`;
  }
  return join(dir, 'admin.sock');
}

export function adminTokenPath(storeDir: string): string {
  return join(storeDir, ADMIN_TOKEN_FILE);
}
