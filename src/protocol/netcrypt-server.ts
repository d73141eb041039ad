/**
 * The object createServer() returns: a listener whose connections become
 * Channels, with a lifecycle of its own. It wraps a net.Server rather than
 * subclassing it, because its close() means more than net.Server's — it
 * ends every channel with an authenticated close and resolves once nothing
 * is left — and so cannot keep net.Server's signature.
 *
 * Shutdown, in order: stop accepting; send CLOSE to every channel, after the
 * sends already queued on it; wait up to graceMs for the peers' CLOSEs;
 * destroy whatever is left; resolve once every socket the server accepted
 * is gone. Handshakes in progress get the grace too, and one that completes
 * within it is closed at once, never handed over: its client may already
 * hold a channel it believes open (its connect() can resolve before the
 * server has read its last handshake message), and should see a clean close
 * rather than a failure.
 */

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { MAX_TIMEOUT_MS } from '../deadline.ts';
import { invalidArgument } from '../errors.ts';
import type { Channel } from './channel.ts';

/** How long close() waits for the peers' authenticated closes by default. */
export const DEFAULT_CLOSE_GRACE_MS = 5_000;

export interface ServerCloseOptions {
  /**
   * How long the peers have to answer the server's CLOSE with theirs (and to
   * take what was queued for them before it), default 5 s. Channels still
   * open then are destroyed. 0 sends the CLOSEs and destroys every channel at once.
   */
  graceMs?: number;
}

export interface NetcryptServerEvents {
  /** A channel whose handshake completed and whose peer passed the trust options. */
  channel: [channel: Channel<net.Socket>];
  /** Every TCP connection accepted, before any bound or handshake. */
  connection: [socket: net.Socket];
  listening: [];
  error: [error: Error];
  /** After close(): every channel and socket is gone. */
  close: [];
}

/** What the server gives createServer()'s code for each connection it accepts. */
export interface Acceptance {
  /**
   * Hands a channel whose handshake completed to the application (the
   * 'channel' event) and tracks it; false, handing nothing, once close()
   * has begun: the caller then closes the channel.
   */
  handOver(channel: Channel<net.Socket>): boolean;
  /** True once close()'s grace is over and the server destroys what is left: a failure then is its own doing. */
  dropping(): boolean;
}

export type AcceptConnection = (socket: net.Socket, acceptance: Acceptance) => void;

export class NetcryptServer extends EventEmitter<NetcryptServerEvents> {
  readonly #listener: net.Server;
  readonly #channels = new Set<Channel<net.Socket>>();
  /** Every socket accepted and not yet closed: handshakes, channels, alerts still leaving. */
  readonly #sockets = new Set<net.Socket>();
  #closing?: Promise<void>;
  #dropping = false;

  /** `accept` runs each connection, up to its channel's hand-over. */
  constructor(accept: AcceptConnection) {
    super();
    const acceptance: Acceptance = { handOver: (channel) => this.#handOver(channel), dropping: () => this.#dropping };
    this.#listener = net.createServer((socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      this.emit('connection', socket);
      accept(socket, acceptance);
    });
    this.#listener.on('listening', () => this.emit('listening'));
    this.#listener.on('error', (error) => this.emit('error', error));
  }

  /** The channels handed over and not yet closed (a channel leaves the set on its 'close' event), e.g. for a broadcast. */
  get channels(): ReadonlySet<Channel<net.Socket>> {
    return this.#channels;
  }

  get listening(): boolean {
    return this.#listener.listening;
  }

  listen(port?: number, hostname?: string, listeningListener?: () => void): this;
  listen(port?: number, listeningListener?: () => void): this;
  listen(path: string, listeningListener?: () => void): this;
  listen(options: net.ListenOptions, listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    Reflect.apply(this.#listener.listen, this.#listener, args);
    return this;
  }

  address(): net.AddressInfo | string | null {
    return this.#listener.address();
  }

  /**
   * Stops accepting connections; the channels already open, and handshakes
   * in progress, go on (close() still ends them). For a server that takes
   * one peer and keeps it.
   */
  stopListening(): void {
    if (this.#listener.listening) this.#listener.close();
  }

  /**
   * Stops accepting, sends an authenticated close to every channel (and to
   * each handshake that completes meanwhile) and waits up to `graceMs` for
   * the peers'; then destroys the rest, handshakes included. Resolves once
   * every connection is gone, leaving no handle or timer behind. Later calls
   * return the first call's promise.
   */
  close(options: ServerCloseOptions = {}): Promise<void> {
    const graceMs = options.graceMs ?? DEFAULT_CLOSE_GRACE_MS;
    if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > MAX_TIMEOUT_MS) {
      return Promise.reject(invalidArgument(`graceMs must be an integer between 0 and ${MAX_TIMEOUT_MS}`));
    }
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #handOver(channel: Channel<net.Socket>): boolean {
    if (this.#closing) return false;
    this.#channels.add(channel);
    channel.once('close', () => this.#channels.delete(channel));
    try {
      this.emit('channel', channel);
    } catch (error) {
      // A listener's own failure, not the connection's: surfaced as Node does for any listener.
      queueMicrotask(() => {
        throw error;
      });
    }
    return true;
  }

  async #close(graceMs: number): Promise<void> {
    // Resolves once the listener is closed and every connection it accepted has ended.
    const drained = new Promise<void>((resolve) => this.#listener.close(() => resolve()));
    for (const channel of this.#channels) void channel.close({ timeoutMs: Math.max(1, graceMs) });
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    // Drained within the grace: the peers answered, and handshakes finished and were closed.
    await Promise.race([drained, graceOver]);
    clearTimeout(timer);
    this.#dropping = true;
    // No alert: after this side's CLOSE a peer may receive nothing more, and one that did not answer is not listening.
    for (const channel of this.#channels) channel.destroy();
    for (const socket of this.#sockets) socket.destroy();
    await drained;
    this.emit('close');
  }
}
