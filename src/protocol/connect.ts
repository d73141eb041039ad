/**
 * The modern API: connect() and createServer() hand out SecureChannels
 * whose handshake is complete and whose peer passed the trust options.
 * connect() can dial through Tor (or any SOCKS5 proxy).
 */

import net from 'node:net';
import { type BackendChoice, resolveBackend } from '../backend/index.ts';
import type { Backend } from '../backend/types.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { type Identity, generateIdentity } from '../keys/identity.ts';
import type { Role } from '../wire/handshake-messages.ts';
import { SecureChannel } from '../channel/secure-channel.ts';
import { abortError } from '../channel/socket-waits.ts';
import { type TrustOptions, buildVerifier } from '../channel/trust.ts';
import { type TorOptions, enableTor } from '../tor/tor-client.ts';

export interface ChannelOptions extends TrustOptions {
  /** This side's long-term key. Without one, a fresh 3072-bit key is generated (slow: supply one). */
  identity?: Identity | Promise<Identity>;
  backend?: Backend | BackendChoice;
  /** Largest message accepted from the peer (default 64 MiB). */
  maxMessageBytes?: number;
  /** Whole handshake deadline (default 10 s): a peer that stalls is dropped. */
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface ConnectOptions extends ChannelOptions {
  host?: string;
  port: number;
  /** TCP connect deadline (default 10 s). */
  connectTimeoutMs?: number;
  /** Use an already-connected socket instead of dialling. */
  socket?: net.Socket;
  /**
   * Dial through Tor's SOCKS5 port (default 127.0.0.1:9050): the host name
   * goes to Tor unresolved, so .onion works and DNS does not leak.
   */
  tor?: boolean | TorOptions;
}

/** Runs the handshake on a connected socket. The channel owns the socket from here on. */
export async function secureSocket(socket: net.Socket, role: Role, options: ChannelOptions = {}): Promise<SecureChannel> {
  let resolved: [Identity, Backend];
  try {
    resolved = await resolveIdentityAndBackend(options);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return handshake(socket, role, options, resolved);
}

function resolveIdentityAndBackend(options: ChannelOptions): Promise<[Identity, Backend]> {
  return Promise.all([options.identity ?? generateIdentity(), resolveBackend(options.backend)]);
}

async function handshake(socket: net.Socket, role: Role, options: ChannelOptions, [identity, backend]: [Identity, Backend]): Promise<SecureChannel> {
  if (options.signal?.aborted) {
    socket.destroy();
    throw abortError(options.signal);
  }
  const channel = new SecureChannel(socket, {
    role,
    identity,
    backend,
    verifyPeer: buildVerifier(options),
    maxMessageBytes: options.maxMessageBytes,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    signal: options.signal,
  });
  await channel.ready;
  return channel;
}

function dial(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, signal });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NetcryptError(ErrorCode.TIMEOUT, `connecting to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.name === 'AbortError' && signal) reject(abortError(signal));
      else reject(new NetcryptError(ErrorCode.CLOSED, `cannot connect to ${host}:${port}: ${error.message}`, { cause: error }));
    });
  });
}

/** Connects, runs the handshake as the client, and checks the server's key against the trust options. */
export async function connect(options: ConnectOptions): Promise<SecureChannel> {
  if (!options || (options.socket === undefined && !Number.isInteger(options.port))) throw invalidArgument('connect() needs a port');
  const host = options.host ?? '127.0.0.1';
  // Resolved before dialling: a server may speak as soon as the connection is up.
  const resolved = await resolveIdentityAndBackend(options);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const socket =
    options.socket ??
    (options.tor
      ? await enableTor(options.tor === true ? {} : options.tor).connect(options.port, host, { signal: options.signal, timeoutMs: connectTimeoutMs })
      : await dial(host, options.port, connectTimeoutMs, options.signal));
  return handshake(socket, 'client', { ...options, peerId: options.peerId ?? `${host}:${options.port}` }, resolved);
}

export interface ServerOptions extends ChannelOptions {
  /** Called when a connection fails its handshake (bad peer, timeout); default: ignore. */
  onHandshakeError?: (error: NetcryptError, socket: net.Socket) => void;
}

/**
 * A net.Server whose connections are upgraded to SecureChannels; the
 * callback sees only channels whose handshake completed. The identity is
 * resolved once and shared by every connection.
 */
export function createServer(options: ServerOptions, onChannel: (channel: SecureChannel) => void): net.Server {
  const identity = options.identity ?? generateIdentity();
  const shared = { ...options, identity };
  return net.createServer((socket) => {
    secureSocket(socket, 'server', shared).then(onChannel, (error: NetcryptError) => options.onHandshakeError?.(error, socket));
  });
}
