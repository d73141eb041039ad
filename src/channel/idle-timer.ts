/**
 * `idleTimeoutMs`: a channel with no application traffic — messages on
 * any lane, sent or received; PING and PONG do not count — for that long
 * is closed with the authenticated close. touch() only stores a
 * timestamp; one timer, re-armed from it when it fires, does the rest.
 */

export class IdleTimer {
  readonly #timeoutMs: number;
  readonly #onIdle: () => void;
  /** True while a send is still under way (a large message waiting for 'drain'): that is traffic too. */
  readonly #busy: () => boolean;
  #lastTraffic = performance.now();
  #timer?: NodeJS.Timeout;

  constructor(timeoutMs: number, onIdle: () => void, busy: () => boolean) {
    this.#timeoutMs = timeoutMs;
    this.#onIdle = onIdle;
    this.#busy = busy;
  }

  start(): void {
    this.#lastTraffic = performance.now();
    this.#arm(this.#timeoutMs);
  }

  touch(): void {
    this.#lastTraffic = performance.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#check, Math.max(1, Math.ceil(ms)));
    this.#timer.unref();
  }

  readonly #check = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    if (this.#busy()) this.#lastTraffic = now;
    const quietMs = now - this.#lastTraffic;
    if (quietMs >= this.#timeoutMs) this.#onIdle();
    else this.#arm(this.#timeoutMs - quietMs);
  };
}
