/**
 * createClient(): a client that stays connected. It dials with connect(),
 * checks the server's key on every connection, and when a connection fails
 * or ends it dials again after an exponential backoff with full jitter,
 * until it is closed or gives up.
 *
 * Nothing is ever sent twice. A call made while there is no connection
 * waits for the next one (bounded: `maxQueued`, the call's timeout, its
 * signal); a call already handed to a connection that then ends is
 * rejected with ERR_UNCONFIRMED, because this side cannot know whether the
 * peer got it. Retrying it is the caller's decision.
 */

import { EventEmitter } from 'node:events';
import { ErrorCode, NetcryptError, invalidArgument, isNetcryptError } from '../errors.ts';
import { abortError, checkTimeout } from '../deadline.ts';
import { buildVerifier } from '../channel/trust.ts';
import type { Channel } from './channel.ts';
import { type ConnectOptions, connect } from './connect.ts';

export const DEFAULT_INITIAL_DELAY_MS = 250;
export const DEFAULT_MAX_DELAY_MS = 30_000;
export const DEFAULT_MAX_QUEUED = 1024;

export interface ReconnectOptions {
  /** The ceiling of the first delay (default 250 ms); each further attempt doubles it. */
  initialDelayMs?: number;
  /** The largest ceiling (default 30 s). A connection that lasted this long counts as stable. */
  maxDelayMs?: number;
  /** Attempts in a row that may fail before the client gives up (default Infinity; 0: never redial). */
  maxRetries?: number;
  /**
   * Default true: each delay is drawn uniformly from [0, ceiling], so that
   * clients cut off together do not all come back at the same moment.
   * False waits the ceiling itself.
   */
  jitter?: boolean;
}

/** Without idleTimeoutMs: a client that redials after every close would only reconnect at once. */
export interface ClientOptions extends Omit<ConnectOptions, 'socket' | 'signal' | 'idleTimeoutMs'> {
  reconnect?: ReconnectOptions;
  /**
   * Calls (send and request) that may wait for a connection at once
   * (default 1024); beyond it a call fails at once with ERR_NOT_CONNECTED.
   * 0: never wait.
   */
  maxQueued?: number;
  /** Aborting it is close(). */
  signal?: AbortSignal;
}

export interface ClientSendOptions {
  signal?: AbortSignal;
  /** How long the message may wait for a connection (default: until the client closes or gives up). */
  timeoutMs?: number;
}

export interface ClientRequestOptions {
  signal?: AbortSignal;
  /** The whole call: waiting for a connection, then for the reply. */
  timeoutMs?: number;
}

export interface ReconnectingInfo {
  /** 1 for the first attempt after a failure, counting up until a connection is stable. */
  attempt: number;
  /** The wait before this attempt. */
  delayMs: number;
  /** What ended the last attempt or connection; undefined after a clean close by the server. */
  error?: NetcryptError;
}

export interface ClientEvents {
  /** A connection is up: handshake done, the server's key accepted. Its listeners run before queued calls are sent. */
  connect: [channel: Channel];
  /** The connection ended; `error` is undefined exactly when it closed cleanly. */
  disconnect: [error?: NetcryptError];
  /** The client waits `delayMs`, then dials again. */
  reconnecting: [info: ReconnectingInfo];
  /** The client gave up: a trust failure (the error itself) or maxRetries spent (ERR_NOT_CONNECTED, the last failure as cause). 'close' follows. */
  error: [error: NetcryptError];
  /** The client is finished: closed, aborted, or it gave up (then with that error). */
  close: [error?: NetcryptError];
}

/** A call waiting for a connection. */
interface Waiting {
  start: (channel: Channel) => void;
  fail: (error: NetcryptError) => void;
}

/**
 * Failures that a new attempt would only repeat. A server that presents
 * another key is a security event for the application, not a network glitch.
 */
const FATAL_CODES: ReadonlySet<string> = new Set([ErrorCode.PEER_KEY_MISMATCH, ErrorCode.INVALID_ARGUMENT, ErrorCode.BAD_KEY, ErrorCode.BACKEND_UNAVAILABLE]);

function isFatal(error: NetcryptError): boolean {
  return error.origin === 'local' && FATAL_CODES.has(error.code);
}

function asNetcryptError(error: unknown): NetcryptError {
  return error instanceof NetcryptError ? error : new NetcryptError(ErrorCode.CONNECT, String(error), { cause: error });
}

function notConnected(message: string, cause?: unknown): NetcryptError {
  return new NetcryptError(ErrorCode.NOT_CONNECTED, message, { cause });
}

/** Starts a client that dials at once; see Client. Invalid options throw here, before any dial. */
export function createClient(options: ClientOptions): Client {
  return new Client(options);
}

export class Client extends EventEmitter<ClientEvents> {
  readonly #connectOptions: ConnectOptions;
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetries: number;
  readonly #jitter: boolean;
  readonly #maxQueued: number;
  readonly #signal?: AbortSignal;
  readonly #onAbort = (): void => this.#stop(abortError(this.#signal!, 'client'));

  #channel?: Channel;
  /** Per connection: its 'close' event's error, once it has ended. */
  readonly #ended = new WeakMap<Channel, Promise<NetcryptError | undefined>>();
  readonly #waiting: Waiting[] = [];
  #stopped = false;
  /** Why the client stopped: undefined for close(). */
  #stopReason?: NetcryptError;
  #gaveUp = false;
  #dialing?: AbortController;
  #backoffTimer?: NodeJS.Timeout;
  #wake?: () => void;
  readonly #done: Promise<void>;

  constructor(options: ClientOptions) {
    super();
    if (!options || !Number.isInteger(options.port)) throw invalidArgument('createClient() needs a port');
    if ((options as ConnectOptions).idleTimeoutMs !== undefined) {
      throw invalidArgument('createClient() takes no idleTimeoutMs: it dials again after every close (a server may still close idle clients)');
    }
    const { reconnect = {}, maxQueued = DEFAULT_MAX_QUEUED, signal, ...connectOptions } = options;
    const host = connectOptions.host ?? '127.0.0.1';
    // The same choice connect() makes, checked now: a missing trust choice is the caller's mistake, not a network event.
    buildVerifier({ ...connectOptions, peerId: connectOptions.peerId ?? `${host}:${connectOptions.port}` }, { requireChoice: true });
    this.#connectOptions = connectOptions;
    this.#initialDelayMs = checkTimeout(reconnect.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS, 'reconnect.initialDelayMs');
    this.#maxDelayMs = checkTimeout(reconnect.maxDelayMs ?? DEFAULT_MAX_DELAY_MS, 'reconnect.maxDelayMs');
    if (this.#maxDelayMs < this.#initialDelayMs) throw invalidArgument('reconnect.maxDelayMs must be at least reconnect.initialDelayMs');
    this.#maxRetries = reconnect.maxRetries ?? Infinity;
    if (this.#maxRetries !== Infinity && !(Number.isInteger(this.#maxRetries) && this.#maxRetries >= 0)) {
      throw invalidArgument('reconnect.maxRetries must be a non-negative integer or Infinity');
    }
    this.#jitter = reconnect.jitter ?? true;
    if (!Number.isInteger(maxQueued) || maxQueued < 0) throw invalidArgument('maxQueued must be a non-negative integer');
    this.#maxQueued = maxQueued;
    this.#signal = signal;
    if (signal?.aborted) this.#onAbort();
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#done = this.#run();
  }

  /** The connection now up, or undefined between connections and after the client stopped. */
  get channel(): Channel | undefined {
    return this.#channel?.closed === false ? this.#channel : undefined;
  }

  /** True once close() was called, the signal aborted, or the client gave up. */
  get closed(): boolean {
    return this.#stopped;
  }

  /**
   * Sends one message on the connection now up, or on the next one if there
   * is none: it then waits (see `maxQueued`, `timeoutMs`). Resolves once the
   * socket has taken it, as channel.send() does — it does not mean the
   * server got it. If the connection ends before the socket took it,
   * ERR_UNCONFIRMED (the connection's error as cause); once the client has
   * stopped, ERR_NOT_CONNECTED.
   */
  send(data: Uint8Array | string, options: ClientSendOptions = {}): Promise<void> {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) return Promise.reject(invalidArgument('data must be a Buffer, Uint8Array or string'));
    return this.#call('send', options, (channel) => channel.send(data, { signal: options.signal }));
  }

  /**
   * channel.request() on the connection now up, or on the next one if there
   * is none: it then waits (see `maxQueued`; `timeoutMs` covers the wait and
   * the reply). Resolves with the server's reply; its handler's failure is
   * ERR_REMOTE. If the connection ends before the reply, ERR_UNCONFIRMED
   * (the connection's error as cause): the server may have run it. Once the
   * client has stopped, ERR_NOT_CONNECTED.
   */
  request(data: Uint8Array | string, options: ClientRequestOptions = {}): Promise<Buffer> {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) return Promise.reject(invalidArgument('data must be a Buffer, Uint8Array or string'));
    return this.#call('request', options, (channel, timeoutMs) => channel.request(data, { timeoutMs, signal: options.signal }));
  }

  /**
   * Sends a close to the server, stops dialing, and resolves once the
   * connection is gone and no timer is left. Calls still waiting for a
   * connection reject with ERR_NOT_CONNECTED; calls in flight may still
   * settle with the server's answer.
   */
  async close(): Promise<void> {
    this.#stop(undefined);
    await this.#done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ── calls ──────────────────────────────────────────────────────────────

  /**
   * Runs `start` on the connection now up, or queues it for the next one.
   * `start` gets what is left of the call's timeout.
   */
  #call<T>(what: string, options: { signal?: AbortSignal; timeoutMs?: number }, start: (channel: Channel, timeoutMs?: number) => Promise<T>): Promise<T> {
    const { signal } = options;
    let timeoutMs: number | undefined;
    try {
      if (options.timeoutMs !== undefined) timeoutMs = checkTimeout(options.timeoutMs);
      if (signal?.aborted) throw abortError(signal, what);
      if (this.#stopped) throw notConnected(`cannot ${what}: the client is closed`, this.#stopReason);
    } catch (error) {
      return Promise.reject(error);
    }
    const channel = this.channel;
    if (channel) return this.#startOn(channel, what, () => start(channel, timeoutMs));
    if (this.#waiting.length >= this.#maxQueued) {
      return Promise.reject(notConnected(`cannot ${what}: not connected, and ${this.#maxQueued} calls already wait for a connection (maxQueued)`));
    }
    return new Promise<T>((resolve, reject) => {
      const queuedAt = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => leave(abortError(signal!, what));
      const cleanUp = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.#waiting.indexOf(waiting);
        if (index >= 0) this.#waiting.splice(index, 1);
      };
      const leave = (error: NetcryptError): void => {
        cleanUp();
        reject(error);
      };
      const waiting: Waiting = {
        start: (channel) => {
          cleanUp();
          const left = timeoutMs === undefined ? undefined : Math.max(1, Math.ceil(timeoutMs - (performance.now() - queuedAt)));
          this.#startOn(channel, what, () => start(channel, left)).then(resolve, reject);
        },
        fail: leave,
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => leave(new NetcryptError(ErrorCode.TIMEOUT, `${what} timed out after ${timeoutMs} ms waiting for a connection`)), timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiting);
    });
  }

  /**
   * A call handed to `channel`. Its own failures (timeout, abort, a bad
   * argument, the server's error reply) pass through; a failure because the
   * connection ended becomes ERR_UNCONFIRMED: the server may have it or not.
   */
  async #startOn<T>(channel: Channel, what: string, start: () => Promise<T>): Promise<T> {
    try {
      return await start();
    } catch (error) {
      if (!channel.closed) throw error;
      const ended = await this.#ended.get(channel);
      if (error === ended || isNetcryptError(error, ErrorCode.CLOSED)) {
        throw new NetcryptError(ErrorCode.UNCONFIRMED, `the connection ended during ${what}: the server may or may not have it`, { cause: error });
      }
      throw error;
    }
  }

  #failWaiting(error: NetcryptError): void {
    for (const waiting of this.#waiting.splice(0)) waiting.fail(error);
  }

  // ── the connection loop ────────────────────────────────────────────────

  /** Dials, serves a connection until it ends, backs off, and again, until stopped. */
  async #run(): Promise<void> {
    /** Attempts in a row that did not lead to a stable connection. */
    let failures = 0;
    while (!this.#stopped) {
      let error: NetcryptError | undefined;
      const channel = await this.#dial().catch((failure: unknown) => {
        error = asNetcryptError(failure);
      });
      if (this.#stopped) {
        await channel?.close();
        break;
      }
      if (channel) {
        const since = performance.now();
        error = await this.#serve(channel);
        this.#channel = undefined;
        this.#emit('disconnect', error);
        if (this.#stopped) break;
        failures = performance.now() - since >= this.#maxDelayMs ? 1 : failures + 1;
      } else if (isFatal(error!)) {
        this.#giveUp(error!);
        break;
      } else failures++;
      if (failures > this.#maxRetries) {
        this.#giveUp(notConnected(`gave up after ${this.#maxRetries} retries (maxRetries)`, error));
        break;
      }
      const delayMs = this.#delay(failures);
      this.#emit('reconnecting', { attempt: failures, delayMs, error });
      await this.#sleep(delayMs);
    }
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.#gaveUp) this.#emit('error', this.#stopReason!);
    this.#emit('close', this.#gaveUp ? this.#stopReason : undefined);
  }

  #dial(): Promise<Channel> {
    this.#dialing = new AbortController();
    return connect({ ...this.#connectOptions, signal: this.#dialing.signal }).finally(() => (this.#dialing = undefined));
  }

  /**
   * Makes `channel` the current connection, sends the waiting calls on it,
   * and resolves with its 'close' error once it has ended. A server's close
   * is answered at once, so that a new connection can follow.
   */
  #serve(channel: Channel): Promise<NetcryptError | undefined> {
    // A channel can end in the very chunk that completed its handshake, before connect() resolved.
    const ended = channel.closed
      ? channel.close().then(() => new NetcryptError(ErrorCode.CLOSED, 'the connection ended as it opened'))
      : new Promise<NetcryptError | undefined>((resolve) => channel.once('close', resolve));
    this.#ended.set(channel, ended);
    if (channel.closed) return ended;
    channel.once('end', () => void channel.close());
    this.#channel = channel;
    this.#emit('connect', channel);
    for (const waiting of this.#waiting.splice(0)) {
      if (this.channel === channel) waiting.start(channel);
      else this.#waiting.push(waiting);
    }
    return ended;
  }

  /**
   * Full jitter: for attempt n (1, 2, …) the ceiling is
   * min(maxDelayMs, initialDelayMs · 2^(n−1)) and the delay a uniform integer
   * in [0, ceiling]. The randomness only spreads clients out: Math.random suffices.
   */
  #delay(attempt: number): number {
    const ceiling = Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** Math.min(attempt - 1, 31));
    return this.#jitter ? Math.floor(Math.random() * (ceiling + 1)) : ceiling;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        clearTimeout(this.#backoffTimer);
        this.#backoffTimer = this.#wake = undefined;
        resolve();
      };
      this.#backoffTimer = setTimeout(this.#wake, ms);
    });
  }

  #giveUp(reason: NetcryptError): void {
    this.#gaveUp = true;
    this.#stop(reason);
  }

  /** Stops dialing and waiting, and closes the connection; #run then finishes. */
  #stop(reason: NetcryptError | undefined): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopReason = reason;
    this.#failWaiting(notConnected(reason ? `the client stopped: ${reason.message}` : 'the client is closed', reason));
    this.#wake?.();
    this.#dialing?.abort();
    void this.#channel?.close();
  }

  /** A listener that throws is reported as Node reports any listener's throw, without breaking the loop. */
  #emit<E extends keyof ClientEvents>(event: E, ...args: ClientEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: ClientEvents[E]) => boolean)(event, ...args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
