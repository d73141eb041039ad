/**
 * Deadlines for multi-step operations: a timeout and an optional
 * AbortSignal, either of which rejects with the matching NetcryptError
 * after running `onCancel` (which tears down whatever was started).
 */

import { ErrorCode, NetcryptError, invalidArgument } from './errors.ts';

/** setTimeout fires at once for delays above 2^31-1 ms, so larger values are refused. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function checkTimeout(timeoutMs: number, name = 'timeoutMs'): number {
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw invalidArgument(`${name} must be an integer between 1 and ${MAX_TIMEOUT_MS}`);
  }
  return timeoutMs;
}

export function abortError(signal: AbortSignal, what = 'operation'): NetcryptError {
  return new NetcryptError(ErrorCode.ABORTED, `${what} was aborted`, { cause: signal.reason });
}

export interface DeadlineOptions {
  /** Names the operation in error messages, e.g. "handshake". */
  what: string;
  /** No timeout when undefined. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  onCancel?: (error: NetcryptError) => void;
}

/**
 * Settles with the work's result or the first cancellation. `work` may be a
 * function, which is not even started when the signal is already aborted.
 */
export async function withDeadline<T>(work: Promise<T> | (() => Promise<T>), options: DeadlineOptions): Promise<T> {
  const { what, timeoutMs, signal, onCancel } = options;
  if (timeoutMs !== undefined) checkTimeout(timeoutMs);
  if (signal?.aborted) {
    const error = abortError(signal, what);
    onCancel?.(error);
    throw error;
  }
  const started = typeof work === 'function' ? work() : work;
  if (timeoutMs === undefined && !signal) return started;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const cancelled = new Promise<never>((_, reject) => {
    const cancel = (error: NetcryptError) => {
      reject(error);
      onCancel?.(error);
    };
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => cancel(new NetcryptError(ErrorCode.TIMEOUT, `${what} timed out after ${timeoutMs} ms`)), timeoutMs);
    }
    if (signal) {
      onAbort = () => cancel(abortError(signal, what));
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    // Promise.race subscribes to both, so a late rejection of the losing side is never unhandled.
    return await Promise.race([started, cancelled]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
