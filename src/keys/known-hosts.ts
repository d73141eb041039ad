/**
 * Trust on first use, like OpenSSH's known_hosts: the first key a peer presents
 * is recorded, and a different key later is a hard error that says which line
 * to edit if the change is legitimate.
 *
 * Format: one `peerId SHA256:<base64>` per line; `#` comments and blank lines are
 * ignored. A peer may have several lines (e.g. while rotating keys); any match is known.
 *
 * Recording is serialised per file: within this process by one queue per path,
 * across processes by a lock file (`<file>.lock`, created exclusively), and the
 * file is re-read under the lock, so two simultaneous first contacts cannot
 * both record a key for one peer.
 */

import { appendFile, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { fingerprintsEqual, isFingerprint } from './identity.ts';

/** `knownHosts: true` means this file. */
export const DEFAULT_KNOWN_HOSTS = '~/.netcrypt/known_hosts';

const MAX_PEER_ID = 255;
// Starting with '#' would read back as a comment; whitespace would split the line.
const PEER_ID_PATTERN = /^[^\s#\p{Cc}][^\s\p{Cc}]*$/u;
/** How long to wait for another process's lock before giving up. */
const LOCK_TIMEOUT_MS = 10_000;
/** A lock file still without a pid after this long was left by a process that died while creating it. */
const EMPTY_LOCK_STALE_MS = 5_000;

interface Entry {
  readonly fingerprint: string;
  readonly line: number;
}

interface Contents {
  readonly entries: ReadonlyMap<string, readonly Entry[]>;
  readonly endsWithNewline: boolean;
}

const EMPTY: Contents = { entries: new Map(), endsWithNewline: true };

/** `~` and `~/…` are the user's home folder, as in a shell; anything else is taken as given. */
export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/') || (process.platform === 'win32' && path.startsWith('~\\'))) return join(homedir(), path.slice(2));
  return path;
}

// One store per file in the process, so every connection's check of a file
// shares one queue and one parsed copy, whoever opened it.
const stores = new Map<string, KnownHosts>();

export class KnownHosts {
  /** The absolute path, `~` expanded: the file messages name. */
  readonly path: string;
  #queue: Promise<unknown> = Promise.resolve();
  #cached?: { readonly version: string; readonly contents: Contents };

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * The store for a file (`true`: ~/.netcrypt/known_hosts). Reads it once to fail
   * early if it is malformed; a missing file is an empty store.
   */
  static async open(path: string | true): Promise<KnownHosts> {
    const absolute = resolve(expandHome(path === true ? DEFAULT_KNOWN_HOSTS : path));
    let store = stores.get(absolute);
    if (store === undefined) {
      store = new KnownHosts(absolute);
      stores.set(absolute, store);
    }
    await store.#read();
    return store;
  }

  /**
   * What the file says of this key, recording nothing: 'known', 'new' (no line
   * for the peer), or ERR_PEER_KEY_MISMATCH when the peer has another key.
   */
  async lookup(peerId: string, fingerprint: string): Promise<'known' | 'new'> {
    checkArguments(peerId, fingerprint);
    return this.#classify(await this.#read(), peerId, fingerprint);
  }

  /** Records the key if the peer has none ('added'), accepts it if recorded ('known'), refuses another. */
  async verify(peerId: string, fingerprint: string): Promise<'known' | 'added'> {
    checkArguments(peerId, fingerprint);
    // A key already recorded needs no lock: only recording must be serialised.
    if ((await this.lookup(peerId, fingerprint)) === 'known') return 'known';
    const result = this.#queue.then(() => this.#underLock(() => this.#verifyNow(peerId, fingerprint)));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #verifyNow(peerId: string, fingerprint: string): Promise<'known' | 'added'> {
    // Read afresh under the lock: another process may have recorded this peer a moment ago.
    const contents = await this.#read({ fresh: true });
    if (this.#classify(contents, peerId, fingerprint) === 'known') return 'known';
    try {
      // One small O_APPEND write, made while holding the lock.
      await appendFile(this.path, `${contents.endsWithNewline ? '' : '\n'}${peerId} ${fingerprint}\n`, { mode: 0o600 });
    } catch (cause) {
      throw new NetcryptError(ErrorCode.FILE_IO, `cannot record ${peerId} in ${this.path}`, { cause });
    }
    return 'added';
  }

  #classify(contents: Contents, peerId: string, fingerprint: string): 'known' | 'new' {
    const stored = contents.entries.get(peerId);
    if (stored === undefined) return 'new';
    if (stored.some((entry) => fingerprintsEqual(entry.fingerprint, fingerprint))) return 'known';
    throw this.#mismatch(peerId, fingerprint, stored);
  }

  #mismatch(peerId: string, presented: string, stored: readonly Entry[]): NetcryptError {
    const lines = stored.map((entry) => `${this.path}:${entry.line}`).join(', ');
    return new NetcryptError(
      ErrorCode.PEER_KEY_MISMATCH,
      `the key of ${peerId} has changed: it presented ${presented}, but ${stored.map((e) => e.fingerprint).join(' / ')} is recorded ` +
        `(${lines}). Someone may be intercepting the connection. If the change is legitimate, ` +
        `delete ${stored.length === 1 ? 'that line' : 'those lines'} from ${this.path} and connect again.`,
    );
  }

  async #underLock<T>(work: () => Promise<T>): Promise<T> {
    const lockPath = `${this.path}.lock`;
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new NetcryptError(ErrorCode.FILE_IO, `cannot create the folder of ${this.path}`, { cause });
    }
    await acquireLock(lockPath, this.path);
    try {
      return await work();
    } finally {
      await unlink(lockPath).catch(() => undefined);
    }
  }

  /**
   * The parsed file, re-parsed only when its size, mtime or inode changed
   * (200,000 lines take a third of a second); `fresh` always reads it.
   */
  async #read({ fresh = false }: { fresh?: boolean } = {}): Promise<Contents> {
    let text: string;
    let version: string;
    try {
      // Stat before reading: a change after the stat makes the next stat differ, never a stale cache.
      const stats = await stat(this.path, { bigint: true });
      version = `${stats.ino}:${stats.size}:${stats.mtimeNs}`;
      if (!fresh && this.#cached?.version === version) return this.#cached.contents;
      text = await readFile(this.path, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
      throw new NetcryptError(ErrorCode.FILE_IO, `cannot read ${this.path}`, { cause });
    }
    const contents = this.#parse(text);
    this.#cached = { version, contents };
    return contents;
  }

  #parse(text: string): Contents {
    const entries = new Map<string, Entry[]>();
    const lines = text.split('\n');
    for (let index = 0; index < lines.length; index++) {
      const content = (lines[index] as string).trim();
      if (content === '' || content.startsWith('#')) continue;
      const [peerId, fingerprint, ...rest] = content.split(/\s+/);
      if (peerId === undefined || fingerprint === undefined || rest.length > 0 || !isValidPeerId(peerId) || !isFingerprint(fingerprint)) {
        throw new NetcryptError(ErrorCode.BAD_KEY, `${this.path}:${index + 1}: malformed known-hosts line (expected "<peer> SHA256:<base64>")`);
      }
      const entry = { fingerprint, line: index + 1 };
      const existing = entries.get(peerId);
      if (existing === undefined) entries.set(peerId, [entry]);
      else existing.push(entry);
    }
    return { entries, endsWithNewline: text === '' || text.endsWith('\n') };
  }
}

/**
 * Creates the lock file exclusively and writes our pid into it. A lock whose
 * process no longer exists is stale (it crashed while holding it) and is removed.
 */
async function acquireLock(lockPath: string, of: string): Promise<void> {
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      return;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new NetcryptError(ErrorCode.FILE_IO, `cannot create the lock file ${lockPath}`, { cause });
      }
    }
    const holder = await readLock(lockPath);
    if (holder !== undefined && holder.stale) {
      // Remove it only if it is still the same stale lock, not one just taken by a live process.
      const again = await readLock(lockPath);
      if (again !== undefined && again.content === holder.content) await unlink(lockPath).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new NetcryptError(
        ErrorCode.FILE_IO,
        `${of} is locked by ${lockPath}${holder?.pid === undefined ? '' : ` (process ${holder.pid})`}; ` +
          'if no netcrypt process is using it, delete the lock file',
      );
    }
    await sleep(5 + Math.random() * 20);
  }
}

async function readLock(lockPath: string): Promise<{ content: string; pid?: number; stale: boolean } | undefined> {
  try {
    const [content, stats] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    const pid = /^\d+\n$/.test(content) ? Number(content.trim()) : undefined;
    if (pid === undefined) return { content, stale: Date.now() - stats.mtimeMs > EMPTY_LOCK_STALE_MS };
    return { content, pid, stale: !processExists(pid) };
  } catch {
    return undefined; // released meanwhile: try again
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function checkArguments(peerId: string, fingerprint: string): void {
  if (!isValidPeerId(peerId)) {
    throw invalidArgument(`peer id must be 1 to ${MAX_PEER_ID} characters without whitespace or control characters, not starting with '#'`);
  }
  if (!isFingerprint(fingerprint)) throw invalidArgument(`not a SHA256 fingerprint: ${JSON.stringify(fingerprint)}`);
}

function isValidPeerId(peerId: string): boolean {
  return peerId.length <= MAX_PEER_ID && PEER_ID_PATTERN.test(peerId);
}
