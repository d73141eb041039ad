/**
 * The sending side. A batch (one file, several, or a folder's tree) goes as
 * one manifest, then the receiver asks for each file in turn and grants
 * credit; the sender reads the file in chunks only as credit allows, so
 * memory stays flat whatever the file's size. The SHA-256 of the whole file
 * follows its content.
 *
 * A file is identified when it is listed (device, inode, size, mtime) and
 * checked again when it is opened and after its last byte is read: any
 * difference is ERR_FILE_CHANGED, and the receiver discards what it got.
 */

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Stats } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { SecureChannel } from '../channel/secure-channel.ts';
import { abortError, checkTimeout } from '../deadline.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { abortable, hashPrefix, ioError } from './file-io.ts';
import { DEFAULT_TIMEOUT_MS, type FileLanes, type Wait, fileLanes, isChannelGone, isFromPeer, peerFailure } from './file-lanes.ts';
import type { DirectoryEntry, FileEntry, ReceiverMessage } from './file-messages.ts';
import { checkName, displayName } from './file-names.ts';
import { type ProgressListener, ProgressMeter } from './progress.ts';

/** Content per lane message at most; the channel splits it into 64 KiB records. */
const CHUNK_BYTES = 256 * 1024;

export interface FileSendOptions {
  /** Cancels the transfer; the receiver removes what it received. */
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /**
   * The longest to wait for the receiver: for its answer to the offer, and
   * between any two of its messages after. Default 60 000 ms; then ERR_TIMEOUT.
   */
  timeoutMs?: number;
}

export interface FileResult {
  /** The name as transferred: a base name, or a '/'-separated path inside a sent folder. */
  name: string;
  /** Where the file is on this side: the source sent, or the file received. */
  path: string;
  size: number;
  /** SHA-256 of the whole content, hex. */
  sha256: string;
  /** Bytes kept from an earlier, interrupted attempt instead of being sent again (0 if none). */
  resumedFrom: number;
}

/** One entry of a batch, with where it is and what it was when listed. */
export type Source = { entry: FileEntry; path: string; stats: Stats } | { entry: DirectoryEntry };

export function fileSource(path: string, components: string[], stats: Stats): Source {
  return {
    entry: { type: 'file', path: components, size: stats.size, mode: stats.mode & 0o7777, mtime: Math.floor(stats.mtimeMs) },
    path,
    stats,
  };
}

/**
 * The base name (checked as the receiver will check it) and stat() of a
 * path the caller named. Like cp, a symbolic link named explicitly is followed.
 */
export async function statNamed(path: string): Promise<{ name: string; stats: Stats }> {
  const name = checkName(basename(path));
  try {
    return { name, stats: await stat(path) };
  } catch (error) {
    throw ioError(error, `read ${displayName(name)}`);
  }
}

/** Lists a file named by the caller. */
async function describeFile(path: string): Promise<Source> {
  const { name, stats } = await statNamed(path);
  if (stats.isDirectory()) throw new NetcryptError(ErrorCode.FILE_IO, `${displayName(name)} is a folder: send it with sendDirectory()`);
  if (!stats.isFile()) throw new NetcryptError(ErrorCode.FILE_IO, `${displayName(name)} is not a regular file`);
  return fileSource(resolve(path), [name], stats);
}

/** Sends one file under its base name. Resolves once the receiver has it verified and in place. */
export async function sendFile(channel: SecureChannel, path: string, options: FileSendOptions = {}): Promise<FileResult> {
  const [result] = await sendBatch(channel, [await describeFile(path)], options);
  return result!;
}

/** Sends several files as one batch (received with receiveFiles); base names must differ. */
export async function sendFiles(channel: SecureChannel, paths: readonly string[], options: FileSendOptions = {}): Promise<FileResult[]> {
  const sources: Source[] = [];
  for (const path of paths) sources.push(await describeFile(path));
  const names = sources.map((source) => source.entry.path[0]!);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw invalidArgument(`two files are named ${displayName(duplicate)}`);
  return sendBatch(channel, sources, options);
}

/** Sends a listed batch: manifest, then each file the receiver asks for, until it says done. */
export async function sendBatch(channel: SecureChannel, sources: Source[], options: FileSendOptions): Promise<FileResult[]> {
  const lanes = fileLanes(channel);
  return lanes.sendTurn(async () => {
    const { signal } = options;
    const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    if (signal?.aborted) throw abortError(signal);
    const id = lanes.nextBatchId();
    const total = sources.reduce((sum, { entry }) => sum + (entry.type === 'file' ? entry.size : 0), 0);
    const meter = new ProgressMeter(total, options.onProgress);
    const results: FileResult[] = [];
    // The receiver asks for every file once, in manifest order.
    const fileIndexes = sources.flatMap((source, index) => ('stats' in source ? [index] : []));
    try {
      await abortable(lanes.send({ t: 'manifest', id, entries: sources.map((source) => source.entry) }), signal);
      let wait = { timeoutMs, silence: 'the receiver did not answer the offer (is it calling receiveFile()?)' };
      for (;;) {
        const reply = await nextReply(lanes, id, signal, wait);
        wait = { timeoutMs, silence: 'the receiver did not answer' };
        // Credit for the end of the file just sent arrives after it; it is not needed any more.
        if (reply.t === 'credit') continue;
        if (reply.t === 'done') {
          if (results.length !== fileIndexes.length) throw lanes.violation('receiver finished before asking for every file');
          return results;
        }
        const expected = fileIndexes[results.length];
        if (reply.index !== expected) throw lanes.violation(`receiver asked for entry ${reply.index}; the next file is entry ${expected ?? 'none'}`);
        const source = sources[reply.index] as Extract<Source, { path: string }>;
        results.push(await sendContent(lanes, id, reply, source, meter, signal, wait));
      }
    } catch (error) {
      if (!isFromPeer(error) && !isChannelGone(error)) {
        const code = error instanceof NetcryptError ? error.code : ErrorCode.ABORTED;
        await lanes.report({ t: 'send-failed', id, code, message: error instanceof Error ? error.message : String(error) }, timeoutMs);
      }
      throw error;
    }
  });
}

/** The receiver's next word on batch `id`; answers to earlier, failed batches are stale and skipped. */
async function nextReply(lanes: FileLanes, id: number, signal: AbortSignal | undefined, wait: Wait): Promise<Exclude<ReceiverMessage, { t: 'receive-failed' }>> {
  for (;;) {
    const reply = await lanes.toSender.next(signal, wait);
    if (reply.id < id) continue;
    if (reply.id > id) throw lanes.violation('answer to a batch not yet sent');
    if (reply.t === 'receive-failed') throw peerFailure('receiver', reply.code, reply.message);
    return reply;
  }
}

/** A read started ahead: a failure is reported when it is awaited, not as an unhandled rejection. */
function pending<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

function changed(name: string): NetcryptError {
  return new NetcryptError(ErrorCode.FILE_CHANGED, `${displayName(name)} changed while it was being sent`);
}

function checkUnchanged(now: Stats, listed: Stats, name: string): void {
  if (now.dev !== listed.dev || now.ino !== listed.ino || now.size !== listed.size || now.mtimeMs !== listed.mtimeMs) throw changed(name);
}

async function sendContent(
  lanes: FileLanes,
  id: number,
  want: Extract<ReceiverMessage, { t: 'want' }>,
  source: Extract<Source, { path: string }>,
  meter: ProgressMeter,
  signal: AbortSignal | undefined,
  wait: Wait,
): Promise<FileResult> {
  const { entry } = source;
  const name = entry.path.join('/');
  let handle: FileHandle;
  try {
    handle = await open(source.path, 'r');
  } catch (error) {
    throw ioError(error, `open ${displayName(name)}`);
  }
  try {
    const read = async (buffer: Buffer, position: number): Promise<Buffer> => {
      try {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead !== buffer.length) throw changed(name);
      } catch (error) {
        throw ioError(error, `read ${displayName(name)}`);
      }
      return buffer;
    };
    checkUnchanged(await handle.stat(), source.stats, name);

    // Resume only from a prefix the receiver holds byte for byte (its keyed hash matches ours); anything else starts over.
    let hash = createHash('sha256');
    let offset = 0;
    if (want.offset > 0 && want.offset <= entry.size) {
      const proof = createHmac('sha256', want.nonce);
      if (!(await hashPrefix(handle, [hash, proof], want.offset, signal))) throw changed(name);
      if (timingSafeEqual(proof.digest(), want.prefix)) offset = want.offset;
      else hash = createHash('sha256');
    }
    await lanes.send({ t: 'start', id, index: want.index, offset });
    meter.startFile(name, entry.size, offset);

    // At most a quarter of the receiver's window: it returns credit a quarter at a time, so credit always comes back.
    const chunkBytes = Math.min(CHUNK_BYTES, lanes.channel.maxMessageBytes, Math.max(1, Math.floor(want.credit / 4)));
    // Two buffers take turns: the next chunk is read from disk into one while the other is
    // encrypted and sent (the channel has sealed it by the time the send resolves).
    const buffers = [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)];
    let turn = 0;
    const readChunk = (position: number) =>
      pending(read(buffers[turn++ % 2]!.subarray(0, Math.min(chunkBytes, entry.size - position)), position));
    let credit = want.credit;
    let position = offset;
    let next = position < entry.size ? readChunk(position) : undefined;
    while (next) {
      const chunk = await next;
      position += chunk.length;
      next = position < entry.size ? readChunk(position) : undefined;
      while (credit < chunk.length) {
        const reply = await nextReply(lanes, id, signal, wait);
        if (reply.t !== 'credit') throw lanes.violation(`unexpected ${reply.t} during a file`);
        credit += reply.bytes;
      }
      hash.update(chunk);
      await abortable(lanes.sendContent(chunk), signal);
      credit -= chunk.length;
      meter.add(chunk.length);
    }
    checkUnchanged(await handle.stat(), source.stats, name);
    const sha256 = hash.digest();
    await lanes.send({ t: 'end', id, index: want.index, sha256 });
    meter.finishFile();
    return { name, path: source.path, size: entry.size, sha256: sha256.toString('hex'), resumedFrom: offset };
  } finally {
    await handle.close();
  }
}
