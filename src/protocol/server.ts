/**
 * createServer(): a NetcryptServer whose connections are upgraded to
 * Channels by secureSocket(); the callback and the 'channel' event see only
 * channels whose handshake completed and whose peer passed the trust options.
 *
 * The server bounds what anonymous peers can make it hold and do. At
 * accept time, before the connection costs any key work: a per-source
 * handshake rate, a cap on handshakes in progress, a cap on connections in
 * all and from each source.
 * Afterwards: one budget for the peer data all channels buffer, and a
 * deadline for a message left unfinished. A connection over a bound is
 * dropped and reported with its code; the others go on being served.
 */

import type net from 'node:net';
import { checkTimeout } from '../deadline.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { generateIdentity } from '../keys/identity.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../channel/secure-channel.ts';
import { Channel } from './channel.ts';
import { type ChannelOptions, secureSocket } from './connect.ts';
import { type HandshakeRateOptions, HandshakeRateLimiter, sourceKey } from './handshake-rate.ts';
import { InboundPool } from './inbound-pool.ts';
import { type Acceptance, NetcryptServer } from './netcrypt-server.ts';

export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_HANDSHAKES = 128;
export const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 64;
export const DEFAULT_INBOUND_BUDGET_BYTES = 256 * 1024 * 1024;
export const DEFAULT_UNFINISHED_MESSAGE_TIMEOUT_MS = 30_000;

export interface ServerOptions extends ChannelOptions {
  /**
   * Called when a connection fails its handshake (bad peer, timeout) or is
   * refused at accept time (ERR_RATE_LIMITED, ERR_SERVER_BUSY); default: ignore.
   */
  onHandshakeError?: (error: NetcryptError, socket: net.Socket) => void;
  /**
   * Called when the connection callback throws or rejects — typically a peer
   * that vanished (ERR_TRUNCATED) or tampered (ERR_AUTH) — and when a bound
   * drops an established channel (ERR_BUDGET_EXCEEDED, ERR_TIMEOUT, and
   * ERR_SEND_QUEUE_FULL under sendQueuePolicy 'drop'). Once per
   * channel. The channel is destroyed either way; the server keeps running.
   * Not for ERR_CLOSED: a callback that fails only because the channel was
   * closed (a client that left with an authenticated close while the
   * callback still read or sent, or server.close()) is a normal end; the
   * channel then finishes its close. Default: ignore.
   */
  onChannelError?: (error: unknown, channel: Channel<net.Socket>) => void;
  /** Open connections, in the handshake or past it (default 1024); more are refused with ERR_SERVER_BUSY. */
  maxConnections?: number;
  /** Connections still in the handshake (default 128); more are refused with ERR_SERVER_BUSY. */
  maxHandshakes?: number;
  /**
   * Open connections from one source address (IPv6: one /64), default 64:
   * more from it are refused with ERR_SERVER_BUSY, so one address cannot
   * hold every place of maxConnections. Infinity turns it off (behind a
   * proxy or Tor, where every peer has the same address).
   */
  maxConnectionsPerSource?: number;
  /**
   * Handshakes each source address (IPv6: each /64) may begin: a token
   * bucket, default 10 per second in bursts of 20, 10,000 sources
   * remembered. Over it, ERR_RATE_LIMITED. `false` turns it off (say,
   * behind a proxy or Tor, where every peer has the same address).
   */
  handshakeRate?: HandshakeRateOptions | false;
  /**
   * Peer data buffered by all channels together — frames still arriving,
   * messages still being assembled, lane messages no layer has claimed yet,
   * application messages not yet read (default 256 MiB, at least
   * maxMessageBytes). When a connection's data would exceed it, the
   * connection then holding the most is dropped with ERR_BUDGET_EXCEEDED.
   */
  inboundBudgetBytes?: number;
  /**
   * A message must be complete within this long of its first fragment
   * (default 30 s); otherwise ERR_TIMEOUT. Raise it for large messages on slow links.
   */
  unfinishedMessageTimeoutMs?: number;
}

interface ServerLimits {
  maxConnections: number;
  maxHandshakes: number;
  maxConnectionsPerSource: number;
  inboundBudgetBytes: number;
  unfinishedMessageTimeoutMs: number;
}

/** Codes with which a server bound drops an established channel. */
const BOUND_CODES: ReadonlySet<string> = new Set([ErrorCode.BUDGET_EXCEEDED, ErrorCode.TIMEOUT, ErrorCode.SEND_QUEUE_FULL]);

/**
 * A server whose connections are upgraded to Channels; the callback (and
 * the 'channel' event) see only channels whose handshake completed. The
 * identity is resolved once and shared by every connection.
 */
export function createServer(options: ServerOptions = {}, onChannel?: (channel: Channel<net.Socket>) => void | Promise<void>): NetcryptServer {
  const limits = serverLimits(options);
  const rate = options.handshakeRate === false ? undefined : new HandshakeRateLimiter(options.handshakeRate);
  const pool = new InboundPool(limits.inboundBudgetBytes);
  const identity = options.identity ?? generateIdentity();
  const shared = { ...options, identity };
  let connections = 0;
  let handshakes = 0;
  /** Open connections per source key; a source with none has no entry, so the map holds at most maxConnections. */
  const perSource = new Map<string, number>();

  /** Reported before the socket goes, so that the callback still sees its addresses. */
  const refuse = (socket: net.Socket, error: NetcryptError): void => {
    try {
      options.onHandshakeError?.(error, socket);
    } finally {
      socket.destroy();
    }
  };

  const accept = (socket: net.Socket, acceptance: Acceptance): void => {
    // Read while the socket is open: Node keeps it then, for reports about a socket already gone.
    const source = socket.remoteAddress;
    // Spent even when a cap refuses: a flooding source stays empty while the server is busy.
    if (rate && !rate.take(source)) {
      return refuse(socket, new NetcryptError(ErrorCode.RATE_LIMITED, `${source} began handshakes faster than handshakeRate allows`));
    }
    if (connections >= limits.maxConnections) {
      return refuse(socket, new NetcryptError(ErrorCode.SERVER_BUSY, `maxConnections (${limits.maxConnections}) connections are open`));
    }
    if (handshakes >= limits.maxHandshakes) {
      return refuse(socket, new NetcryptError(ErrorCode.SERVER_BUSY, `maxHandshakes (${limits.maxHandshakes}) handshakes are in progress`));
    }
    const key = sourceKey(source);
    const fromSource = perSource.get(key) ?? 0;
    if (fromSource >= limits.maxConnectionsPerSource) {
      return refuse(socket, new NetcryptError(ErrorCode.SERVER_BUSY, `maxConnectionsPerSource (${limits.maxConnectionsPerSource}) connections are open from ${source}`));
    }
    perSource.set(key, fromSource + 1);
    connections++;
    handshakes++;
    let channel: Channel<net.Socket> | undefined;
    /** Why the pool dropped this connection before its channel was handed over, when it did. */
    let dropped: NetcryptError | undefined;
    const budget = pool.open((error) => {
      if (channel) return channel.destroy(error);
      dropped = error;
      socket.destroy();
    });
    socket.once('close', () => {
      connections--;
      const left = perSource.get(key)! - 1;
      if (left === 0) perSource.delete(key);
      else perSource.set(key, left);
      budget.close();
    });
    let reported = false;
    const report = (error: unknown): void => {
      if (reported) return;
      reported = true;
      options.onChannelError?.(error, channel!);
    };
    const bounds = { inboundBudget: budget, unfinishedMessageTimeoutMs: limits.unfinishedMessageTimeoutMs };
    secureSocket(socket, 'server', shared, bounds).then(
      (ready) => {
        handshakes--;
        channel = ready;
        if (dropped) {
          // Picked to make room between the handshake's end and now: not handed to the callback.
          ready.destroy(dropped);
          return report(dropped);
        }
        ready.once('close', (error) => {
          if (error && BOUND_CODES.has(error.code)) report(error);
        });
        // Completed while the server closes: its client may already think it open, so it gets a clean close.
        if (!acceptance.handOver(ready)) return void ready.close();
        if (onChannel) void serve(ready, onChannel, report);
      },
      (error: NetcryptError) => {
        handshakes--;
        // Dropped by close() after its grace: the server's own doing, not the peer's.
        if (acceptance.dropping() && !dropped) return;
        options.onHandshakeError?.(dropped ?? error, socket);
      },
    );
  };

  return new NetcryptServer(accept);
}

async function serve(channel: Channel<net.Socket>, onChannel: (channel: Channel<net.Socket>) => void | Promise<void>, report: (error: unknown) => void): Promise<void> {
  try {
    await onChannel(channel);
  } catch (error) {
    if (error instanceof NetcryptError && error.code === ErrorCode.CLOSED) {
      // Closed by the peer or by this server, without a failure: let the close finish, and say nothing.
      await channel.close();
      return;
    }
    channel.destroy(error instanceof NetcryptError ? error : undefined);
    report(error);
  }
}

function serverLimits(options: ServerOptions): ServerLimits {
  const limits = {
    maxConnections: count(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, 'maxConnections'),
    maxHandshakes: count(options.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES, 'maxHandshakes'),
    maxConnectionsPerSource: count(options.maxConnectionsPerSource ?? DEFAULT_MAX_CONNECTIONS_PER_SOURCE, 'maxConnectionsPerSource'),
    inboundBudgetBytes: count(options.inboundBudgetBytes ?? DEFAULT_INBOUND_BUDGET_BYTES, 'inboundBudgetBytes'),
    unfinishedMessageTimeoutMs: checkTimeout(options.unfinishedMessageTimeoutMs ?? DEFAULT_UNFINISHED_MESSAGE_TIMEOUT_MS, 'unfinishedMessageTimeoutMs'),
  };
  // Otherwise a message of the largest size allowed could never be received.
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (limits.inboundBudgetBytes < maxMessageBytes) {
    throw invalidArgument(`inboundBudgetBytes (${limits.inboundBudgetBytes}) must be at least maxMessageBytes (${maxMessageBytes})`);
  }
  return limits;
}

/** A positive integer, or Infinity for no limit. */
function count(value: number, name: string): number {
  if (value !== Infinity && !(Number.isInteger(value) && value >= 1)) throw invalidArgument(`${name} must be a positive integer or Infinity`);
  return value;
}
