/** Small promise helpers over socket events, each cleaning up its listeners. */

import type { Socket } from 'node:net';
import { ErrorCode, NetcryptError } from '../errors.ts';

export function abortError(signal: AbortSignal): NetcryptError {
  return new NetcryptError(ErrorCode.ABORTED, 'operation aborted', { cause: signal.reason });
}

/** Resolves on 'drain'; rejects if the socket closes first or the signal aborts. */
export function waitForDrain(socket: Socket, signal?: AbortSignal): Promise<void> {
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
 * Runs `work` with a deadline and an optional AbortSignal: rejects with
 * ERR_TIMEOUT or ERR_ABORTED, calling `onCancel` so the caller can tear down.
 */
export function withDeadline<T>(
  work: Promise<T>,
  options: { timeoutMs?: number; signal?: AbortSignal; what: string; onCancel?: (error: NetcryptError) => void },
): Promise<T> {
  const { timeoutMs, signal, what, onCancel } = options;
  if (!timeoutMs && !signal) return work;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const cancel = (error: NetcryptError) => {
      cleanup();
      onCancel?.(error);
      reject(error);
    };
    const onAbort = () => cancel(abortError(signal!));
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs) {
      timer = setTimeout(() => cancel(new NetcryptError(ErrorCode.TIMEOUT, `${what} timed out after ${timeoutMs} ms`)), timeoutMs);
      timer.unref?.();
    }
    work.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}
