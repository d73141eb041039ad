/**
 * One deadline for a multi-step network operation: a timeout and an optional
 * AbortSignal, either of which rejects with the matching NetcryptError after
 * running `onCancel` (which destroys the socket, so nothing is left behind).
 */

import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';

export interface DeadlineOptions {
  /** Names the operation in error messages, e.g. "connecting to the Tor control port". */
  what: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  onCancel: () => void;
}

/** setTimeout silently fires at once for delays above 2^31-1 ms, so larger values are refused. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function checkTimeout(timeoutMs: number, name = 'timeoutMs'): number {
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw invalidArgument(`${name} must be an integer between 1 and ${MAX_TIMEOUT_MS}`);
  }
  return timeoutMs;
}

export function abortedError(what: string, signal: AbortSignal): NetcryptError {
  return new NetcryptError(ErrorCode.ABORTED, `${what} was aborted`, { cause: signal.reason });
}

/** Runs `start()` unless the signal is already aborted, and settles with its result or the first cancellation. */
export async function withDeadline<T>(start: () => Promise<T>, options: DeadlineOptions): Promise<T> {
  const { what, timeoutMs, signal, onCancel } = options;
  if (signal?.aborted) throw abortedError(what, signal);

  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const cancelled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new NetcryptError(ErrorCode.TIMEOUT, `${what} timed out after ${timeoutMs} ms`));
      onCancel();
    }, timeoutMs);
    if (signal) {
      onAbort = () => {
        reject(abortedError(what, signal));
        onCancel();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    // Promise.race subscribes to both, so a late rejection of the losing side is never unhandled.
    return await Promise.race([start(), cancelled]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
