/** Waiting on transports (sockets or any Duplex), cleaning up listeners afterwards. */

import type { Duplex, Writable } from 'node:stream';
import { abortError } from '../deadline.ts';
import { ErrorCode, NetcryptError } from '../errors.ts';

/** Resolves on 'drain'; rejects if the socket closes first or the signal aborts. */
export function waitForDrain(socket: Writable, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(new NetcryptError(ErrorCode.CLOSED, 'socket closed while sending'));
    };
    const onAbort = () => {
      cleanup();
      reject(abortError(signal!));
    };
    socket.on('drain', onDrain);
    socket.on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits for `work` (say, key generation) before anything has taken the
 * socket over: a reset meanwhile must not become an uncaught 'error'. The
 * socket is then destroyed, and whoever takes it over sees that.
 */
export async function awaitBeforeTakeover<T>(socket: Duplex, work: Promise<T>): Promise<T> {
  const ignoreEarlyError = (): void => {};
  socket.on('error', ignoreEarlyError);
  try {
    return await work;
  } finally {
    socket.off('error', ignoreEarlyError);
  }
}
