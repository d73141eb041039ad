/**
 * The modern API's client side: connect() hands out Channels whose
 * handshake is complete and whose peer passed the trust options, and can
 * dial through Tor (or any SOCKS5 proxy). secureSocket() runs the handshake
 * on a socket or any other Duplex already connected (a WebSocket stream, a
 * child's stdio, an in-memory pair); createServer() (server.ts) uses it.
 */

import net from 'node:net';
import type { Duplex } from 'node:stream';
import { type BackendChoice, resolveBackend } from '../backend/index.ts';
import type { Backend } from '../backend/types.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { type Identity, processIdentity } from '../keys/identity.ts';
import type { Role } from '../wire/handshake-messages.ts';
import { DEFAULT_KEY_UPDATE_POLICY, type SuiteName } from '../wire/records.ts';
import { Channel } from './channel.ts';
import { checkTimeout, withDeadline } from '../deadline.ts';
import { type ChannelSetup, DEFAULT_HANDSHAKE_TIMEOUT_MS, type SendQueuePolicy } from '../channel/secure-channel.ts';
import { awaitBeforeTakeover } from '../channel/socket-waits.ts';
import { type TrustOptions, buildVerifier } from '../channel/trust.ts';
import { type TorOptions, enableTor } from '../tor/tor-client.ts';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_TOR_DIAL_TIMEOUT_MS = 120_000;

export interface ChannelOptions extends TrustOptions {
  /**
   * This side's long-term key. Without one, connect() uses one RSA-3072 key per
   * process, generated once off the event loop: servers can tell that two
   * connections came from the same process. createServer() without one
   * generates a new key at each start, which every client that pinned the old one refuses.
   */
  identity?: Identity | Promise<Identity>;
  backend?: Backend | BackendChoice;
  /** Largest message accepted from the peer (default 64 MiB). */
  maxMessageBytes?: number;
  /** Whole handshake deadline (default 10 s): a peer that stalls is dropped. */
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
  /**
   * The record suites to offer, e.g. `['a256cbc-hs512']` (default: both;
   * the first of a256gcm, a256cbc-hs512 that both sides offer is used).
   */
  suites?: readonly SuiteName[];
  /**
   * Records sealed under one key before this side ratchets it with a
   * KEY_UPDATE (default 2^24; 2^34 plaintext bytes also trigger one).
   */
  keyUpdateRecords?: number;
  /** Most requests (`channel.request()`) waiting for replies at once, 1 to 128 (default 128); more reject with ERR_TOO_MANY_REQUESTS. */
  maxPendingRequests?: number;
  /**
   * Bytes sent but not yet taken by the kernel (`bufferedAmount`) that a
   * 'fail' or 'drop' policy allows (default 16 MiB): what one stalled peer can cost.
   */
  sendQueueLimitBytes?: number;
  /** At the limit: 'wait' (default) as ever, 'fail' the send, or 'drop' the channel; both with ERR_SEND_QUEUE_FULL. */
  sendQueuePolicy?: SendQueuePolicy;
  /**
   * Heartbeat: after this long with nothing received, send an authenticated
   * PING; a peer that stays silent (vanished without a FIN: a pulled cable,
   * a dropped NAT mapping) fails the channel with ERR_TIMEOUT within
   * keepAliveMs × 3 of its last byte (default: off).
   */
  keepAliveMs?: number;
  /**
   * Closes the channel with the authenticated close after this long without
   * application messages in either direction (PINGs do not count); the
   * 'close' event is then clean and `closeReason` is `'idle'` (default: off).
   */
  idleTimeoutMs?: number;
}

export interface ConnectOptions extends ChannelOptions {
  host?: string;
  port: number;
  /** Dial deadline: 10 s for TCP; through Tor, Tor's own default (120 s) unless set. */
  connectTimeoutMs?: number;
  /** Use an already-connected socket instead of dialling. */
  socket?: net.Socket;
  /**
   * Dial through Tor's SOCKS5 port (default 127.0.0.1:9050): the host name
   * goes to Tor unresolved, so .onion works and DNS does not leak.
   */
  tor?: boolean | TorOptions;
}

/** A server's bounds on what one of its channels may hold for the peer (createServer() sets them). */
export type ChannelBounds = Pick<ChannelSetup, 'inboundBudget' | 'unfinishedMessageTimeoutMs'>;

/**
 * Runs the handshake on a connected transport: a net.Socket, or any Duplex
 * byte stream, such as `createWebSocketStream(ws)` from `ws`, a child
 * process's stdio joined by `Duplex.from({ readable, writable })`, or one end
 * of `duplexPair()`. The channel owns the transport from here on
 * (`channel.transport`). One deadline, `handshakeTimeoutMs`, covers the whole
 * call — resolving the identity and backend as well as the handshake — so no
 * window between them can leave it unsettled.
 */
export async function secureSocket<T extends Duplex>(socket: T, role: Role, options: ChannelOptions = {}, bounds: ChannelBounds = {}): Promise<Channel<T>> {
  let verifier: Verifier;
  let timeoutMs: number;
  try {
    verifier = buildVerifier(options, { requireChoice: role === 'client' });
    timeoutMs = checkTimeout(options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS, 'handshakeTimeoutMs');
  } catch (error) {
    socket.destroy();
    throw error;
  }
  let channel: Channel<T> | undefined;
  return withDeadline(
    async () => {
      let resolved: [Identity, Backend];
      try {
        resolved = await awaitBeforeTakeover(socket, resolveIdentityAndBackend(options));
      } catch (error) {
        socket.destroy();
        throw error;
      }
      channel = openChannel(socket, role, options, resolved, verifier, bounds);
      await channel.ready;
      return channel;
    },
    { what: 'handshake', timeoutMs, signal: options.signal, onCancel: (error) => (channel ? channel.destroy(error) : socket.destroy()) },
  );
}

type Verifier = ReturnType<typeof buildVerifier>;

function resolveIdentityAndBackend(options: ChannelOptions): Promise<[Identity, Backend]> {
  return Promise.all([options.identity ?? processIdentity(), resolveBackend(options.backend)]);
}

/** A channel on `socket`, its handshake under way; invalid options destroy the socket rather than leave it open. */
function openChannel<T extends Duplex>(
  socket: T,
  role: Role,
  options: ChannelOptions,
  [identity, backend]: [Identity, Backend],
  verifyPeer: Verifier,
  bounds: ChannelBounds = {},
): Channel<T> {
  try {
    return new Channel(socket, {
      role,
      identity,
      backend,
      verifyPeer,
      maxMessageBytes: options.maxMessageBytes,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      signal: options.signal,
      suites: options.suites,
      keyUpdate: options.keyUpdateRecords === undefined ? undefined : { ...DEFAULT_KEY_UPDATE_POLICY, records: options.keyUpdateRecords },
      maxPendingRequests: options.maxPendingRequests,
      sendQueueLimitBytes: options.sendQueueLimitBytes,
      sendQueuePolicy: options.sendQueuePolicy,
      keepAliveMs: options.keepAliveMs,
      idleTimeoutMs: options.idleTimeoutMs,
      ...bounds,
    });
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** A TCP connection within `timeoutMs`; the signal covers dialling only, not the socket's life. */
function dial(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  const socket = net.connect({ host, port });
  const connected = new Promise<net.Socket>((resolve, reject) => {
    const onError = (error: Error) => reject(new NetcryptError(ErrorCode.CONNECT, `cannot connect to ${host}:${port}: ${error.message}`, { cause: error }));
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
  return withDeadline(connected, { what: `connecting to ${host}:${port}`, timeoutMs, signal, onCancel: () => socket.destroy() });
}

/** Connects, runs the handshake as the client, and checks the server's key against the trust options. */
export async function connect(options: ConnectOptions): Promise<Channel<net.Socket>> {
  if (!options || (options.socket === undefined && !Number.isInteger(options.port))) throw invalidArgument('connect() needs a port');
  const host = options.host ?? '127.0.0.1';
  // A supplied socket has no host:port to file a known-hosts entry under unless the caller names one.
  const peerId = options.peerId ?? (options.socket === undefined ? `${host}:${options.port}` : undefined);
  const torOptions = options.tor === true ? {} : options.tor || undefined;
  let verifier: Verifier;
  let tor: ReturnType<typeof enableTor> | undefined;
  let dialMs: number;
  let handshakeMs: number;
  try {
    // Before dialling: a missing trust choice is the caller's mistake, not a network event.
    verifier = buildVerifier({ ...options, peerId }, { requireChoice: true });
    tor = torOptions && enableTor(torOptions);
    // Tor's own dial timeout (default 120 s: onion services are slow) unless the caller set one.
    const defaultDialMs = torOptions ? (torOptions.timeoutMs ?? DEFAULT_TOR_DIAL_TIMEOUT_MS) : DEFAULT_CONNECT_TIMEOUT_MS;
    dialMs = checkTimeout(options.connectTimeoutMs ?? defaultDialMs, 'connectTimeoutMs');
    handshakeMs = checkTimeout(options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS, 'handshakeTimeoutMs');
  } catch (error) {
    options.socket?.destroy();
    throw error;
  }
  // One deadline over the whole call — identity, dial, handshake — so that no window between the
  // steps (each with its own deadline) can leave connect() unsettled; cancelling it stops the dial too.
  const cancelDial = new AbortController();
  const dialSignal = options.signal ? AbortSignal.any([options.signal, cancelDial.signal]) : cancelDial.signal;
  let socket = options.socket;
  let channel: Channel<net.Socket> | undefined;
  return withDeadline(
    async () => {
      // Resolved before dialling: a server may speak as soon as the connection is up.
      const resolved = await (socket ? awaitBeforeTakeover(socket, resolveIdentityAndBackend(options)) : resolveIdentityAndBackend(options));
      socket ??= tor
        ? await tor.connect(options.port, host, { signal: dialSignal, timeoutMs: options.connectTimeoutMs })
        : await dial(host, options.port, dialMs, dialSignal);
      channel = openChannel(socket, 'client', options, resolved, verifier);
      await channel.ready;
      return channel;
    },
    {
      what: `connecting to ${host}:${options.port}`,
      timeoutMs: dialMs + handshakeMs,
      signal: options.signal,
      onCancel: (error) => {
        cancelDial.abort(error);
        if (channel) channel.destroy(error);
        else socket?.destroy();
      },
    },
  );
}
