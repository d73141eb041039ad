/**
 * The receiving side. It never trusts the sender: names are checked and
 * every conflict found before a byte is written; content is accepted only
 * within the credit granted (so memory stays flat) and only up to the
 * declared size; the size and the SHA-256 must match at the end, or the
 * partial file is removed and the transfer fails with ERR_FILE_INTEGRITY.
 *
 * What happens to a partial file: a lost connection keeps it, so the next
 * transfer of the same name resumes from it once the sender has checked
 * its hash; every other failure (abort on either side, integrity, a source
 * that changed, a local I/O error) removes it.
 */

import { type Hash, createHash, createHmac, randomBytes } from 'node:crypto';
import type { SecureChannel } from '../channel/secure-channel.ts';
import { checkTimeout } from '../deadline.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { hashPrefix } from './file-io.ts';
import { DEFAULT_TIMEOUT_MS, type FileLanes, type Incoming, type Wait, fileLanes, isChannelGone, isFromPeer, peerFailure } from './file-lanes.ts';
import type { SenderMessage } from './file-messages.ts';
import { displayName } from './file-names.ts';
import type { FileResult } from './file-sender.ts';
import {
  type FileTarget,
  type Target,
  claimTarget,
  closeFolder,
  commitPartial,
  createDirectories,
  finishDirectories,
  openPartial,
  openPresent,
  planTargets,
  releaseTarget,
  removePartial,
  writeAt,
} from './file-target.ts';
import { type ProgressListener, ProgressMeter } from './progress.ts';

/** Bytes of the random key of each `want`'s prefix proof. */
const NONCE_BYTES = 32;
/** Content the sender may have in flight per file: the most this side buffers. */
const WINDOW_BYTES = 4 * 1024 * 1024;

export interface FileReceiveOptions {
  /** The folder to save into; it must exist. Default: the current working directory when the call is made. */
  dir?: string;
  /** Replace existing files. Default false: an existing name fails the batch with ERR_FILE_EXISTS before anything is written. */
  overwrite?: boolean;
  /** Cancels the transfer; the partial file is removed. */
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** The longest to wait for the sender between two of its messages once a batch has begun. Default 60 000 ms; then ERR_TIMEOUT. */
  timeoutMs?: number;
  /**
   * Sees each offer before anything is written (after its names are checked):
   * true (or a promise of true) accepts it; anything else, or a throw,
   * refuses it with ERR_FILE_REFUSED.
   * Decide within the sender's timeout (60 s by default).
   */
  onOffer?: (offer: FileOffer) => boolean | Promise<boolean>;
  /** Refuse (ERR_FILE_REFUSED) an offer of more files than this. Default: no limit beyond the protocol's 100 000 entries. */
  maxFiles?: number;
  /** Refuse (ERR_FILE_REFUSED) an offer whose files total more bytes than this. Default: no limit. */
  maxBytes?: number;
}

/** What a sender offers, as the receiver's onOffer hook sees it. */
export interface FileOffer {
  /** The sender's key fingerprint, `SHA256:…`. */
  peer: string;
  /** Every file, by its '/'-separated name, with its announced size. */
  files: { name: string; size: number }[];
  /** Every folder, by its '/'-separated name (empty for a file or several files). */
  folders: string[];
  /** Number of files. */
  count: number;
  /** Bytes of all files. */
  total: number;
}

/** Receives one file sent with sendFile(). A batch of several entries is refused (use receiveFiles). */
export async function receiveFile(channel: SecureChannel, options: FileReceiveOptions = {}): Promise<FileResult> {
  const [file] = await receiveBatch(channel, options, true);
  return file!;
}

/** Receives the next batch: a file, several files, or a folder's tree. Resolves with every file, in order. */
export function receiveFiles(channel: SecureChannel, options: FileReceiveOptions = {}): Promise<FileResult[]> {
  return receiveBatch(channel, options, false);
}

/** The seed API's recvFile(socket, fileLocation = ''): an empty folder means the current one. */
export function recvFile(channel: SecureChannel, dir = '', options: Omit<FileReceiveOptions, 'dir'> = {}): Promise<FileResult> {
  return receiveFile(channel, { ...options, dir: dir || undefined });
}

async function receiveBatch(channel: SecureChannel, options: FileReceiveOptions, single: boolean): Promise<FileResult[]> {
  // Claimed at the call (an async function runs synchronously up to its first await), not when this call's turn comes.
  const lanes = fileLanes(channel);
  const dir = options.dir ?? process.cwd();
  for (const limit of ['maxFiles', 'maxBytes'] as const) {
    const value = options[limit];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) return Promise.reject(invalidArgument(`${limit} must be a non-negative integer`));
  }
  return lanes.receiveTurn(async () => {
    const { signal, overwrite = false } = options;
    const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const wait = { timeoutMs, silence: 'the sender did not go on' };
    const { id, entries } = await nextManifest(lanes, signal);
    try {
      if (single && (entries.length !== 1 || entries[0]!.type !== 'file' || entries[0]!.path.length !== 1)) {
        throw new NetcryptError(ErrorCode.PROTOCOL, 'expected one file but the peer sent a folder or several files: receive them with receiveFiles()');
      }
      const targets = await planTargets(dir, entries, overwrite, channel.peerFingerprint!);
      const total = entries.reduce((sum, entry) => sum + (entry.type === 'file' ? entry.size : 0), 0);
      await decide(offerOf(channel, targets, total), options);
      await createDirectories(targets);
      const meter = new ProgressMeter(total, options.onProgress);
      const results: FileResult[] = [];
      for (const [index, target] of targets.entries()) {
        if ('partialPath' in target) results.push(await receiveContent(lanes, id, index, target, overwrite, meter, signal, wait));
      }
      await finishDirectories(targets);
      // Everything is in place: if the connection drops now, the files are still complete and this side succeeded.
      await lanes.report({ t: 'done', id }, timeoutMs);
      return results;
    } catch (error) {
      lanes.stopContent(id);
      if (!isFromPeer(error) && !isChannelGone(error)) {
        const code = error instanceof NetcryptError ? error.code : ErrorCode.ABORTED;
        await lanes.report({ t: 'receive-failed', id, code, message: error instanceof Error ? error.message : String(error) }, timeoutMs);
      }
      throw error;
    }
  });
}

function offerOf(channel: SecureChannel, targets: Target[], total: number): FileOffer {
  const files = targets.flatMap((target) => ('partialPath' in target ? [{ name: target.name, size: target.entry.size }] : []));
  const folders = targets.flatMap((target) => ('create' in target ? [target.name] : []));
  return { peer: channel.peerFingerprint!, files, folders, count: files.length, total };
}

function refused(reason: string, cause?: unknown): NetcryptError {
  return new NetcryptError(ErrorCode.FILE_REFUSED, `the receiver refused the offer: ${reason}`, { cause });
}

/** The receiver's limits, then its hook: each may refuse the offer with ERR_FILE_REFUSED. */
async function decide(offer: FileOffer, options: FileReceiveOptions): Promise<void> {
  const { maxFiles = Infinity, maxBytes = Infinity, onOffer } = options;
  if (offer.count > maxFiles) throw refused(`${offer.count} files, more than the ${maxFiles} it takes`);
  if (offer.total > maxBytes) throw refused(`${offer.total} bytes, more than the ${maxBytes} it takes`);
  if (!onOffer) return;
  let accepted: boolean;
  try {
    accepted = await onOffer(offer);
  } catch (error) {
    throw error instanceof NetcryptError ? error : refused('its onOffer hook failed', error);
  }
  if (accepted !== true) throw refused('declined');
}

/**
 * Waits for the next batch. What is still queued from a batch that failed
 * on this side (content in flight, its end) came before the new manifest and
 * is skipped.
 */
async function nextManifest(lanes: FileLanes, signal?: AbortSignal): Promise<Extract<SenderMessage, { t: 'manifest' }>> {
  for (;;) {
    const event = await lanes.toReceiver.next(signal);
    if (event.t === 'manifest') return event;
    if (event.t !== 'chunk' && event.id > lanes.incomingId) throw lanes.violation(`${event.t} before its manifest`);
  }
}

/** The next event of batch `id`: content, start or end. */
async function nextEvent(lanes: FileLanes, id: number, signal: AbortSignal | undefined, wait: Wait): Promise<Exclude<Incoming, { t: 'manifest' | 'send-failed' }>> {
  const event = await lanes.toReceiver.next(signal, wait);
  if (event.t === 'chunk') return event;
  if (event.t === 'manifest' || event.id !== id) throw lanes.violation(`${event.t} of another batch in the middle of one`);
  if (event.t === 'send-failed') throw peerFailure('sender', event.code, event.message);
  return event;
}

/** A lost connection or a peer gone silent (either side's ERR_TIMEOUT) leaves the partial file for a resume; any other failure removes it. */
function keepsPartial(error: unknown): boolean {
  return isChannelGone(error) || (error instanceof NetcryptError && error.code === ErrorCode.TIMEOUT);
}

function exists(name: string): NetcryptError {
  return new NetcryptError(ErrorCode.FILE_EXISTS, `${displayName(name)} already exists with other content`);
}

function integrity(name: string, problem: string): NetcryptError {
  return new NetcryptError(ErrorCode.FILE_INTEGRITY, `${displayName(name)}: ${problem}`);
}

async function receiveContent(
  lanes: FileLanes,
  id: number,
  index: number,
  target: FileTarget,
  overwrite: boolean,
  meter: ProgressMeter,
  signal: AbortSignal | undefined,
  wait: Wait,
): Promise<FileResult> {
  claimTarget(target);
  try {
    return await receiveInto(lanes, id, index, target, overwrite, meter, signal, wait);
  } finally {
    releaseTarget(target);
  }
}

async function receiveInto(
  lanes: FileLanes,
  id: number,
  index: number,
  target: FileTarget,
  overwrite: boolean,
  meter: ProgressMeter,
  signal: AbortSignal | undefined,
  wait: Wait,
): Promise<FileResult> {
  const { entry, name } = target;
  // What is offered: the file already under the final name, or else what an earlier attempt left.
  const present = target.present ? await openPresent(target) : undefined;
  let partial = present ? undefined : await openPartial(target);
  const held = (present ?? partial)!;
  try {
    // Offered only if it can be a prefix of this file. The peer learns only a hash of it keyed
    // with a fresh nonce: a plain SHA-256 would let it forge the final hash by length extension
    // without holding the bytes.
    const nonce = randomBytes(NONCE_BYTES);
    const prefix = createHash('sha256');
    const proof = createHmac('sha256', nonce);
    const offered = held.length <= entry.size && (await hashPrefix(held.handle, [prefix, proof], held.length, signal)) ? held.length : 0;
    const window = Math.min(WINDOW_BYTES, lanes.channel.maxMessageBytes);
    const chunkLimit = Math.max(1, Math.floor(window / 4));
    lanes.openWindow(id, window);
    const prefixProof = (offered > 0 ? proof : createHmac('sha256', nonce)).digest();
    await lanes.send({ t: 'want', id, index, offset: offered, nonce, prefix: prefixProof, credit: window });

    const start = await nextEvent(lanes, id, signal, wait);
    if (start.t !== 'start' || start.index !== index) throw lanes.violation(`expected the start of entry ${index}, got ${start.t}`);
    if (start.offset !== offered && start.offset !== 0) throw lanes.violation('sender resumed from an offset that was not offered');
    const offset = start.offset;
    const hash = offset > 0 ? prefix : createHash('sha256');
    if (present) {
      await present.handle.close();
      if (offset === entry.size) return await keepPresent(lanes, id, index, target, hash, meter, signal, wait);
      // The sender's content differs from the file there: replace it only if asked to.
      if (!overwrite) throw exists(name);
      partial = await openPartial(target);
    }
    const { handle } = partial!;
    // A partial longer than what is kept must not leave stale bytes past the new end.
    if (held.length > offset || present) await handle.truncate(offset);
    meter.startFile(name, entry.size, offset);

    // Credit goes back a quarter window at a time; the sender's chunks are no larger, so it never waits forever.
    let written = 0;
    for (let position = offset; ; ) {
      const event = await nextEvent(lanes, id, signal, wait);
      if (event.t === 'chunk') {
        const { data } = event;
        if (data.length === 0 || data.length > chunkLimit) throw lanes.violation(`content chunk of ${data.length} bytes; chunks are 1 to ${chunkLimit} bytes`);
        if (position + data.length > entry.size) throw integrity(name, `the sender sent more than the declared ${entry.size} bytes`);
        hash.update(data);
        await writeAt(handle, data, position, target);
        position += data.length;
        meter.add(data.length);
        written += data.length;
        if (written >= chunkLimit) {
          lanes.grant(id, written);
          await lanes.send({ t: 'credit', id, bytes: written });
          written = 0;
        }
        continue;
      }
      if (event.t !== 'end' || event.index !== index) throw lanes.violation(`unexpected ${event.t} during a file`);
      if (position !== entry.size) throw integrity(name, `the sender ended after ${position} of the declared ${entry.size} bytes`);
      const sha256 = hash.digest();
      if (!sha256.equals(event.sha256)) throw integrity(name, 'SHA-256 of the content does not match the sender’s');
      await commitPartial(partial!, target, overwrite);
      meter.finishFile();
      return { name, path: target.path, size: entry.size, sha256: sha256.toString('hex'), resumedFrom: offset };
    }
  } catch (error) {
    // Closing twice (a handle already closed by keepPresent or commitPartial) is harmless.
    for (const open of new Set([held, partial])) await open?.handle.close().catch(() => {});
    if (partial && !keepsPartial(error)) await removePartial(target, partial);
    throw error;
  } finally {
    // Only now: the folders were kept open so that nothing above named an entry by a path that could have been swapped.
    for (const open of new Set([held, partial])) if (open) await closeFolder(open);
  }
}

/** The sender has the file already there, whole: only its end follows, and the hashes must agree. The file is not touched. */
async function keepPresent(
  lanes: FileLanes,
  id: number,
  index: number,
  target: FileTarget,
  hash: Hash,
  meter: ProgressMeter,
  signal: AbortSignal | undefined,
  wait: Wait,
): Promise<FileResult> {
  const { entry, name } = target;
  const end = await nextEvent(lanes, id, signal, wait);
  if (end.t !== 'end' || end.index !== index) throw lanes.violation(`expected the end of entry ${index}, got ${end.t}`);
  const sha256 = hash.digest();
  if (!sha256.equals(end.sha256)) throw integrity(name, 'SHA-256 of the content does not match the sender’s');
  meter.startFile(name, entry.size, entry.size);
  meter.finishFile();
  return { name, path: target.path, size: entry.size, sha256: sha256.toString('hex'), resumedFrom: entry.size };
}
