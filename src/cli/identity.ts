/**
 * Where the command keeps its keys: `~/.netcrypt/identity` (made on first
 * use, 0600) unless `--key` names another, and `~/.netcrypt/known_hosts`
 * for trust on first use unless `--known-hosts` names another.
 */

import { access, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Identity, loadOrCreateIdentity } from '../index.ts';

export function defaultIdentityPath(): string {
  return join(homedir(), '.netcrypt', 'identity');
}

export function defaultKnownHostsPath(): string {
  return join(homedir(), '.netcrypt', 'known_hosts');
}

/** The identity at `path`, made there first if there is none; `onCreate` hears of it, since making a key takes a moment. */
export async function identityAt(path: string, onCreate: (path: string) => void): Promise<Identity> {
  if (!(await exists(path))) {
    onCreate(path);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  }
  return loadOrCreateIdentity(path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
