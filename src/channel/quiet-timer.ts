/**
 * How long a channel has been quiet, measured cheaply enough for a busy
 * channel: activity only stores a timestamp, and one unref'd timer, re-armed
 * from that timestamp when it fires, asks its owner what the quiet time
 * means (idleTimeoutMs closes, keepAliveMs pings and then gives up).
 */

import { MAX_TIMEOUT_MS } from '../deadline.ts';

/** Given the quiet time so far, acts on it and returns when to check again (ms from now), or undefined to stop checking. */
export type QuietDecision = (quietMs: number) => number | undefined;

export class QuietTimer {
  readonly #decide: QuietDecision;
  /** True while quiet proves nothing (this side is busy, or not reading): each check then counts as activity. */
  readonly #excused: () => boolean;
  #lastActivity = performance.now();
  #timer?: NodeJS.Timeout;
  /** Set by stop(): a decision that ended the channel (and so stopped this) must not re-arm it. */
  #stopped = false;

  constructor(decide: QuietDecision, excused: () => boolean) {
    this.#decide = decide;
    this.#excused = excused;
  }

  /** The quiet time is counted from now; the first check is after `firstCheckMs`. */
  start(firstCheckMs: number): void {
    this.#stopped = false;
    this.#lastActivity = performance.now();
    this.#arm(firstCheckMs);
  }

  touch(): void {
    this.#lastActivity = performance.now();
  }

  /** When activity was last seen, on performance.now()'s clock. */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  stop(): void {
    this.#stopped = true;
    this.#clear();
  }

  /** What the timer runs; also for an owner that deferred a verdict and must look again. */
  readonly check = (): void => {
    if (this.#stopped) return;
    this.#clear();
    const now = performance.now();
    if (this.#excused()) this.#lastActivity = now;
    const nextMs = this.#decide(now - this.#lastActivity);
    if (nextMs !== undefined && !this.#stopped) this.#arm(nextMs);
  };

  #clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.check, Math.min(Math.max(1, Math.ceil(ms)), MAX_TIMEOUT_MS));
    this.#timer.unref();
  }
}
