/**
 * Trust on first use, like OpenSSH's known_hosts: the first key a peer presents
 * is recorded, and a different key later is a hard error that says which line
 * to edit if the change is legitimate.
 *
 * Format: one `peerId SHA256:<base64>` per line; `#` comments and blank lines are
 * ignored. A peer may have several lines (e.g. while rotating keys); any match is known.
 */

import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { fingerprintsEqual, isFingerprint } from './identity.ts';

const MAX_PEER_ID = 255;
// Starting with '#' would read back as a comment; whitespace would split the line.
const PEER_ID_PATTERN = /^[^\s#\p{Cc}][^\s\p{Cc}]*$/u;

interface Entry {
  readonly peerId: string;
  readonly fingerprint: string;
  readonly line: number;
}

interface Contents {
  readonly entries: Entry[];
  readonly endsWithNewline: boolean;
}

export class KnownHosts {
  readonly path: string;
  // Verifies run one at a time, so each sees the lines the previous one appended.
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string) {
    this.path = path;
  }

  /** Reads the file once to fail early if it is malformed; a missing file is an empty store. */
  static async open(path: string): Promise<KnownHosts> {
    const store = new KnownHosts(path);
    await store.#read();
    return store;
  }

  async verify(peerId: string, fingerprint: string): Promise<'known' | 'added'> {
    if (!isValidPeerId(peerId)) {
      throw invalidArgument(`peer id must be 1 to ${MAX_PEER_ID} characters without whitespace or control characters, not starting with '#'`);
    }
    if (!isFingerprint(fingerprint)) throw invalidArgument(`not a SHA256 fingerprint: ${JSON.stringify(fingerprint)}`);
    const result = this.#queue.then(() => this.#verifyNow(peerId, fingerprint));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #verifyNow(peerId: string, fingerprint: string): Promise<'known' | 'added'> {
    // Re-read every time: the user may have edited the file after a mismatch, as the error tells them to.
    const { entries, endsWithNewline } = await this.#read();
    const stored = entries.filter((entry) => entry.peerId === peerId);
    if (stored.some((entry) => fingerprintsEqual(entry.fingerprint, fingerprint))) return 'known';
    if (stored.length > 0) throw this.#mismatch(peerId, fingerprint, stored);
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      // One small O_APPEND write: other processes appending at the same time cannot interleave with it.
      await appendFile(this.path, `${endsWithNewline ? '' : '\n'}${peerId} ${fingerprint}\n`, { mode: 0o600 });
    } catch (cause) {
      throw new NetcryptError(ErrorCode.FILE_IO, `cannot record ${peerId} in ${this.path}`, { cause });
    }
    return 'added';
  }

  #mismatch(peerId: string, presented: string, stored: Entry[]): NetcryptError {
    const lines = stored.map((entry) => `${this.path}:${entry.line}`).join(', ');
    return new NetcryptError(
      ErrorCode.PEER_KEY_MISMATCH,
      `the key of ${peerId} has changed: it presented ${presented}, but ${stored.map((e) => e.fingerprint).join(' / ')} is recorded ` +
        `(${lines}). Someone may be intercepting the connection. If the change is legitimate, ` +
        `delete ${stored.length === 1 ? 'that line' : 'those lines'} from ${this.path} and connect again.`,
    );
  }

  async #read(): Promise<Contents> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], endsWithNewline: true };
      throw new NetcryptError(ErrorCode.FILE_IO, `cannot read ${this.path}`, { cause });
    }
    const entries: Entry[] = [];
    text.split(/\r?\n/).forEach((raw, index) => {
      const content = raw.trim();
      if (content === '' || content.startsWith('#')) return;
      const [peerId, fingerprint, ...rest] = content.split(/\s+/);
      if (peerId === undefined || fingerprint === undefined || rest.length > 0 || !isValidPeerId(peerId) || !isFingerprint(fingerprint)) {
        throw new NetcryptError(
          ErrorCode.BAD_KEY,
          `${this.path}:${index + 1}: malformed known-hosts line (expected "<peer> SHA256:<base64>")`,
        );
      }
      entries.push({ peerId, fingerprint, line: index + 1 });
    });
    return { entries, endsWithNewline: text === '' || text.endsWith('\n') };
  }
}

function isValidPeerId(peerId: string): boolean {
  return peerId.length <= MAX_PEER_ID && PEER_ID_PATTERN.test(peerId);
}
