/** Small file-system helpers shared by the sending and receiving sides. */

import type { Hash, Hmac } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { abortError } from '../deadline.ts';
import { ErrorCode, NetcryptError } from '../errors.ts';

/** Read size for hashing a file's prefix. */
const HASH_READ_BYTES = 1024 * 1024;

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for this system',
  EISDIR: 'is a folder',
  ENOTDIR: 'not a folder',
  ELOOP: 'is a symbolic link',
  EMFILE: 'too many open files',
};

/**
 * A file-system failure as ERR_FILE_IO: "cannot <what>: <errno>". Callers
 * name the entry as the transfer knows it (see `quoted`), never a local
 * absolute path, because the peer is told the same message.
 */
export function ioError(error: unknown, what: string): NetcryptError {
  if (error instanceof NetcryptError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const detail = code ? `${code}${ERRNO_TEXT[code] ? ` (${ERRNO_TEXT[code]})` : ''}` : String(error);
  return new NetcryptError(ErrorCode.FILE_IO, `cannot ${what}: ${detail}`, { cause: error });
}

/** Feeds the first `length` bytes of an open file into each of `hashes`, in one pass; false if the file is shorter. */
export async function hashPrefix(handle: FileHandle, hashes: readonly (Hash | Hmac)[], length: number, signal?: AbortSignal): Promise<boolean> {
  const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_BYTES, length));
  for (let position = 0; position < length; ) {
    if (signal?.aborted) throw abortError(signal);
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - position), position);
    if (bytesRead === 0) return false;
    for (const hash of hashes) hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return true;
}

/**
 * Waits for `work` unless the signal aborts first. The work itself goes on
 * (a message half handed to the channel must be finished, or the lane is
 * corrupt); only the wait ends.
 */
export function abortable<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
