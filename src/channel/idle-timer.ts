/**
 * `idleTimeoutMs`: a channel with no application traffic — messages on
 * any lane, sent or received; PING and PONG do not count — for that long
 * is closed with the authenticated close.
 */

import { QuietTimer } from './quiet-timer.ts';

export class IdleTimer {
  readonly #timeoutMs: number;
  readonly #quiet: QuietTimer;

  /** `busy`: true while a send is still under way (a large message waiting for 'drain'): that is traffic too. */
  constructor(timeoutMs: number, onIdle: () => void, busy: () => boolean) {
    this.#timeoutMs = timeoutMs;
    const decide = (quietMs: number): number | undefined => {
      if (quietMs < timeoutMs) return timeoutMs - quietMs;
      onIdle();
      return undefined;
    };
    this.#quiet = new QuietTimer(decide, busy);
  }

  start(): void {
    this.#quiet.start(this.#timeoutMs);
  }

  touch(): void {
    this.#quiet.touch();
  }

  stop(): void {
    this.#quiet.stop();
  }
}
