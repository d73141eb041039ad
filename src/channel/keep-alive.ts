/**
 * PING and PONG records (docs/PROTOCOL.md §3, *Ping*): this side's
 * keepalive, which reports a peer that vanished without a FIN (a pulled
 * cable, a NAT that dropped the mapping) as ERR_TIMEOUT in bounded time,
 * and the answers owed to the peer's PINGs.
 *
 * Both are cheap on a busy channel: received bytes only store a timestamp,
 * and one timer (a QuietTimer), re-armed from it when it fires, does the rest.
 */

import { ErrorCode, NetcryptError } from '../errors.ts';
import { PING_BYTES } from '../wire/records.ts';
import { QuietTimer } from './quiet-timer.ts';

/** A peer silent for this many keepalive intervals is declared dead. */
export const KEEP_ALIVE_DEAD_INTERVALS = 3;

export interface KeepAliveHooks {
  /** Seals and sends a PING record with these bytes. */
  sendPing(value: Uint8Array): void;
  /** The peer has sent nothing for KEEP_ALIVE_DEAD_INTERVALS intervals: the channel fails with `error`. */
  onDead(error: NetcryptError): void;
  /** True while this side does not read (its application is behind): the peer's silence then proves nothing. */
  readingPaused(): boolean;
}

function protocolError(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, message);
}

/** A PONG from a peer this side never pinged, or one that does not echo the PING. */
export function unansweredPong(): NetcryptError {
  return protocolError('PONG record that answers no PING');
}

/**
 * This side's PINGs. After `intervalMs` with nothing received it sends one
 * (never a second while one is unanswered); any bytes from the peer count
 * as life, the PONG too. Silence for three intervals is ERR_TIMEOUT — a
 * live peer thus has at least two intervals to answer.
 */
export class KeepAlive {
  readonly #intervalMs: number;
  readonly #hooks: KeepAliveHooks;
  readonly #silence: QuietTimer;
  /** The bytes of the PING waiting for its PONG. Kept after stop(): a PONG may cross this side's CLOSE. */
  #outstanding?: Buffer;
  #sent = 0;
  /** The verdict on a peer silent for too long, due after the event loop's next poll of the sockets. */
  #verdict?: NodeJS.Immediate;

  constructor(intervalMs: number, hooks: KeepAliveHooks) {
    this.#intervalMs = intervalMs;
    this.#hooks = hooks;
    this.#silence = new QuietTimer(this.#decide, () => hooks.readingPaused());
  }

  /** From the end of the handshake: the silence is counted from now. */
  start(): void {
    this.#silence.start(this.#intervalMs);
  }

  /** The peer sent something. */
  heard(): void {
    this.#silence.touch();
  }

  /** Checks a PONG against the outstanding PING; ERR_PROTOCOL if it answers none. */
  onPong(plaintext: Uint8Array): void {
    const expected = this.#outstanding;
    if (!expected || !expected.equals(plaintext)) throw unansweredPong();
    this.#outstanding = undefined;
  }

  /** No more PINGs: this side has closed, the peer has, or the channel is finished. */
  stop(): void {
    this.#silence.stop();
    clearImmediate(this.#verdict);
    this.#verdict = undefined;
  }

  readonly #decide = (silentMs: number): number | undefined => {
    const deadMs = KEEP_ALIVE_DEAD_INTERVALS * this.#intervalMs;
    if (silentMs >= deadMs) {
      // Timers run before the event loop polls the sockets: after a stall of this process the peer's answer may be
      // waiting in the kernel unread. An immediate runs after the poll, so it judges what has really arrived.
      const lastHeard = this.#silence.lastActivity;
      this.#verdict = setImmediate(() => {
        this.#verdict = undefined;
        if (this.#silence.lastActivity !== lastHeard) return this.#silence.check();
        this.#hooks.onDead(new NetcryptError(ErrorCode.TIMEOUT, `the peer sent nothing for ${Math.round(performance.now() - lastHeard)} ms (keepAliveMs × ${KEEP_ALIVE_DEAD_INTERVALS})`));
      });
      this.#verdict.unref();
      return undefined;
    }
    if (silentMs >= this.#intervalMs && !this.#outstanding) this.#ping();
    return (silentMs < this.#intervalMs ? this.#intervalMs : deadMs) - silentMs;
  };

  #ping(): void {
    // A counter: the value only pairs the PONG with its PING (records are sequenced and authenticated).
    const value = Buffer.alloc(PING_BYTES);
    value.writeUIntBE(++this.#sent, PING_BYTES - 6, 6);
    this.#outstanding = value;
    this.#hooks.sendPing(value);
  }
}

export interface PingAnswerHooks {
  /** False while this side's send buffer is full: the peer is not reading what it is sent. */
  canSend(): boolean;
  /** Seals and sends a PONG record with these bytes. */
  sendPong(value: Uint8Array): void;
  /** Runs `send` once the send buffer has drained. */
  whenDrained(send: () => void): void;
}

/**
 * Answers the peer's PINGs, each with a PONG of the same bytes, at once.
 * An answer that cannot leave now — the send buffer is full because the
 * peer does not read — is held, one at most: a PING that arrives while one
 * is held broke the one-outstanding rule (its sender cannot have had the
 * answer) and is ERR_PROTOCOL. So a peer that floods PINGs without reading
 * the PONGs costs a bounded amount of memory.
 */
export class PingAnswerer {
  readonly #hooks: PingAnswerHooks;
  #held?: Buffer;

  constructor(hooks: PingAnswerHooks) {
    this.#hooks = hooks;
  }

  onPing(plaintext: Uint8Array): void {
    if (plaintext.length !== PING_BYTES) throw protocolError(`PING record of ${plaintext.length} bytes; it has ${PING_BYTES}`);
    if (this.#held) throw protocolError('PING record while the PONG to the previous one could not be sent yet');
    if (this.#hooks.canSend()) return this.#hooks.sendPong(plaintext);
    this.#held = Buffer.from(plaintext);
    this.#hooks.whenDrained(() => {
      const held = this.#held;
      this.#held = undefined;
      if (held) this.#hooks.sendPong(held);
    });
  }
}
