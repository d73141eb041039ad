/** Waiting for a socket's 'drain', cleaning up its listeners. */

import type { Socket } from 'node:net';
import { abortError } from '../deadline.ts';
import { ErrorCode, NetcryptError } from '../errors.ts';

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
