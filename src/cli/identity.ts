/**
 * Where the command keeps its keys: `~/.netcrypt/identity` (made on first
 * use, 0600) unless `--key` names another, and `~/.netcrypt/known_hosts`
 * for trust on first use unless `--known-hosts` names another.
 */

import { access, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Identity, generateIdentity, loadIdentity, saveIdentity } from '../index.ts';

export function netcryptHome(): string {
  return join(homedir(), '.netcrypt');
}

export function defaultIdentityPath(): string {
  return join(netcryptHome(), 'identity');
}

export function defaultKnownHostsPath(): string {
  return join(netcryptHome(), 'known_hosts');
}

/** Loads the identity at `path`, or makes one there (with `path.pub`) if there is none yet. */
export async function loadOrCreateIdentity(path: string, onCreate?: (path: string) => void): Promise<Identity> {
  if (await exists(path)) return loadIdentity(path);
  onCreate?.(path);
  const identity = await generateIdentity();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await saveIdentity(identity, path);
  return identity;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
