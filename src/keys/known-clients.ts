/**
 * The clients a server accepts, listed in a file: one fingerprint per line,
 * optionally followed by a name (`SHA256:… laptop`), with `#` comments and
 * blank lines ignored — so `netcrypt fingerprint client.key.pub >> file` adds
 * one. The file is read again whenever it changes, so a client can be added
 * or removed without restarting the server.
 */

import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ErrorCode, NetcryptError } from '../errors.ts';
import { type Fingerprint, fingerprintsEqual, isFingerprint } from './identity.ts';
import { expandHome } from './known-hosts.ts';

export class KnownClients {
  readonly path: string;
  #cached?: { readonly version: string; readonly fingerprints: readonly Fingerprint[] };

  private constructor(path: string) {
    this.path = path;
  }

  /** Reads the file once, so a missing or malformed file fails at start-up rather than at the first client. */
  static async open(path: string): Promise<KnownClients> {
    const clients = new KnownClients(resolve(expandHome(path)));
    await clients.fingerprints();
    return clients;
  }

  async allows(fingerprint: string): Promise<boolean> {
    return (await this.fingerprints()).some((listed) => fingerprintsEqual(listed, fingerprint));
  }

  async fingerprints(): Promise<readonly Fingerprint[]> {
    let text: string;
    let version: string;
    try {
      const stats = await stat(this.path, { bigint: true });
      version = `${stats.ino}:${stats.size}:${stats.mtimeNs}`;
      if (this.#cached?.version === version) return this.#cached.fingerprints;
      text = await readFile(this.path, 'utf8');
    } catch (cause) {
      throw new NetcryptError(ErrorCode.FILE_IO, `cannot read the known-clients file ${this.path}`, { cause });
    }
    const fingerprints: Fingerprint[] = [];
    text.split('\n').forEach((raw, index) => {
      const content = raw.trim();
      if (content === '' || content.startsWith('#')) return;
      const first = content.split(/\s+/, 1)[0] as string;
      if (!isFingerprint(first)) {
        throw new NetcryptError(ErrorCode.BAD_KEY, `${this.path}:${index + 1}: expected "SHA256:<base64> [name]"`);
      }
      fingerprints.push(first);
    });
    this.#cached = { version, fingerprints };
    return fingerprints;
  }
}
