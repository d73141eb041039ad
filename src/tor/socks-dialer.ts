/**
 * TCP connections through a SOCKS5 proxy — normally Tor's SocksPort.
 *
 * The destination name is handed to the proxy unresolved (SOCKS5 address type
 * DOMAINNAME), never looked up locally: that is what makes `.onion` names work
 * and keeps DNS queries from leaking outside Tor. The SOCKS protocol itself is
 * spoken by the `socks` package; this module chooses the credentials (Tor's
 * stream isolation), bounds the attempt in time, and turns every failure into
 * a NetcryptError with a stable code.
 */

import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { domainToASCII } from 'node:url';
import { SocksClient } from 'socks';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { MAX_TIMEOUT_MS, checkTimeout, withDeadline } from '../deadline.ts';

export interface SocksProxyOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 9050, the system Tor's SocksPort; Tor Browser's bundled Tor listens on 9150. */
  port?: number;
  /** Fixed SOCKS credentials. They override `isolation`: every connection then shares them. */
  username?: string;
  password?: string;
}

/**
 * How connections are spread over Tor circuits. Tor isolates streams by their
 * SOCKS username and password (IsolateSOCKSAuth, on by default), so:
 * - `'per-connection'` (default): fresh random credentials, so no two connections share a circuit;
 * - any other string is an isolation key: connections with the same key may share a circuit,
 *   connections with different keys never do;
 * - `false`: no credentials, Tor's own defaults decide.
 */
export type StreamIsolation = 'per-connection' | (string & {}) | false;

export interface SocksDialOptions {
  /** Destination host name (sent to the proxy unresolved), `.onion` address, or IP literal. */
  host: string;
  port: number;
  proxy?: SocksProxyOptions;
  isolation?: StreamIsolation;
  /** Bounds reaching the proxy plus the proxy reaching the destination. Default 120 000 ms, Tor's own SocksTimeout. */
  timeoutMs?: number;
  /** Cancels the attempt; it has no effect once the connection is established. */
  signal?: AbortSignal;
}

export interface SocksProxy {
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
}

export const DEFAULT_SOCKS_HOST = '127.0.0.1';
export const DEFAULT_SOCKS_PORT = 9050;
export const DEFAULT_DIAL_TIMEOUT_MS = 120_000;

/** Validates proxy options and fills in the defaults. */
export function socksProxy(options: SocksProxyOptions = {}): SocksProxy {
  const host = options.host ?? DEFAULT_SOCKS_HOST;
  if (typeof host !== 'string' || host.length === 0) throw invalidArgument('proxy.host must be a non-empty string');
  const port = checkPort(options.port ?? DEFAULT_SOCKS_PORT, 'proxy.port');
  const { username, password } = options;
  if (username === undefined && password === undefined) return { host, port };
  // RFC 1929 carries each of them as 1 to 255 bytes.
  if (!isSocksCredential(username) || !isSocksCredential(password)) {
    throw invalidArgument('proxy.username and proxy.password must both be given, each 1 to 255 bytes');
  }
  return { host, port, username, password };
}

export function checkIsolation(isolation: StreamIsolation): StreamIsolation {
  if (isolation !== false && (typeof isolation !== 'string' || isolation.length === 0)) {
    throw invalidArgument("isolation must be 'per-connection', a non-empty isolation key, or false");
  }
  return isolation;
}

export function checkPort(port: number, name: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`${name} must be an integer between 1 and 65535`);
  return port;
}

/**
 * Opens a connection to `host:port` through the SOCKS5 proxy.
 *
 * The socket comes back paused with every byte the destination has sent
 * still readable, so a reader may attach at any later time.
 */
export async function dialThroughSocks(options: SocksDialOptions): Promise<net.Socket> {
  const destination = { host: destinationHost(options.host), port: checkPort(options.port, 'port') };
  const proxy = socksProxy(options.proxy);
  const credentials = credentialsFor(proxy, options.isolation ?? 'per-connection');
  const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS);
  const target = `${destination.host}:${destination.port}`;
  const proxyName = `SOCKS proxy ${proxy.host}:${proxy.port}`;

  const socket = new net.Socket();
  const replyTap = tapReply(socket);
  try {
    await withDeadline(
      async () => {
        await connectToProxy(socket, proxy, proxyName);
        try {
          await SocksClient.createConnection({
            proxy: { host: proxy.host, port: proxy.port, type: 5, ...credentials },
            command: 'connect',
            destination,
            existing_socket: socket,
            // Ours is the deadline that counts; this one only has to come later (and was set later).
            timeout: Math.min(timeoutMs + 1000, MAX_TIMEOUT_MS),
          });
        } catch (error) {
          throw handshakeError(replyTap.bytes(), error, proxyName, target);
        }
        checkBoundAddressType(replyTap.bytes(), proxyName, target);
      },
      { what: `connecting to ${target} through the ${proxyName}`, timeoutMs, signal: options.signal, onCancel: () => socket.destroy() },
    );
    await holdEarlyBytes(socket);
    return socket;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    replyTap.stop();
  }
}

/**
 * `socks` re-emits bytes that arrived with its reply on the next event-loop
 * turn and then resumes the socket: with no reader attached yet they would
 * be lost. Catch them, pause, and put them back at the front of the stream.
 */
async function holdEarlyBytes(socket: net.Socket): Promise<void> {
  const early: Buffer[] = [];
  const onData = (chunk: Buffer): void => void early.push(chunk);
  socket.on('data', onData);
  await new Promise((resolve) => setImmediate(resolve));
  socket.off('data', onData);
  socket.pause();
  if (early.length > 0) socket.unshift(Buffer.concat(early));
}

function isSocksCredential(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && Buffer.byteLength(value) <= 255;
}

/**
 * IP literals go to the proxy as addresses; names go as names, converted to
 * their ASCII (punycode) form because SOCKS carries bytes and `socks` counts
 * the name's length in UTF-16 units.
 */
function destinationHost(host: string): string {
  if (typeof host !== 'string' || host.length === 0) throw invalidArgument('host must be a non-empty string');
  const unbracketed = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (net.isIP(unbracketed) !== 0) return unbracketed;
  const ascii = /[^\x00-\x7f]/.test(host) ? domainToASCII(host) : host;
  if (ascii.length === 0 || ascii.length > 255 || /[\x00-\x20\x7f]/.test(ascii)) {
    throw invalidArgument(`host ${JSON.stringify(host)} is not a valid host name`);
  }
  return ascii;
}

function credentialsFor(proxy: SocksProxy, isolation: StreamIsolation): { userId: string; password: string } | undefined {
  if (proxy.username !== undefined && proxy.password !== undefined) return { userId: proxy.username, password: proxy.password };
  checkIsolation(isolation);
  if (isolation === false) return undefined;
  if (isolation === 'per-connection') return { userId: 'netcrypt', password: randomBytes(16).toString('hex') };
  // Hashed so the key itself (perhaps a user or peer name) never reaches the proxy, and always fits in 255 bytes.
  const digest = createHash('sha256').update('netcrypt stream isolation\0').update(isolation).digest('hex');
  return { userId: 'netcrypt', password: digest };
}

function connectToProxy(socket: net.Socket, proxy: SocksProxy, proxyName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const reason = error.code ?? error.message;
      reject(new NetcryptError(ErrorCode.TOR_PROXY_UNREACHABLE, `cannot reach the ${proxyName} (${reason}); is Tor running? (the system Tor listens on 9050, Tor Browser on 9150)`, { cause: error }));
    };
    socket.once('error', onError);
    socket.connect({ host: proxy.host, port: proxy.port }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/**
 * Keeps the first eight bytes the proxy sends: method choice (2), the
 * username/password verdict (2, when that method was chosen) and the start of
 * the CONNECT reply up to its address type (4). `socks` keeps the reply byte to itself and reports
 * codes it does not know — Tor's onion codes among them — as "undefined", but
 * RFC 1928 and 1929 fix these sizes, so the byte is recovered from here. The
 * listener also keeps a socket error during the handshake from going unhandled.
 */
function tapReply(socket: net.Socket): { bytes(): Buffer; stop(): void } {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    if (seen.length < TAPPED_BYTES) seen = Buffer.concat([seen, chunk]).subarray(0, TAPPED_BYTES);
  };
  const onError = (): void => {};
  socket.on('data', onData);
  socket.on('error', onError);
  return {
    bytes: () => seen,
    stop: () => {
      socket.off('data', onData);
      socket.off('error', onError);
    },
  };
}

const TAPPED_BYTES = 8;
const SOCKS_VERSION = 0x05;
/** RFC 1928 §5: BND.ADDR is an IPv4 address, a domain name or an IPv6 address. */
const ADDRESS_TYPES = new Set([0x01, 0x03, 0x04]);
const METHOD_USERNAME_PASSWORD = 0x02;
const NO_ACCEPTABLE_METHODS = 0xff;

function handshakeError(bytes: Buffer, cause: unknown, proxyName: string, target: string): NetcryptError {
  if (bytes.length < 2 || bytes[0] !== SOCKS_VERSION) {
    return new NetcryptError(ErrorCode.TOR_PROXY_UNREACHABLE, `the ${proxyName} did not answer as a SOCKS5 proxy`, { cause });
  }
  const method = bytes[1];
  if (method === NO_ACCEPTABLE_METHODS) {
    return new NetcryptError(ErrorCode.TOR_PROXY_AUTH, `the ${proxyName} accepts none of our authentication methods (does it require a username and password?)`, { cause });
  }
  let replyAt = 2;
  if (method === METHOD_USERNAME_PASSWORD) {
    if (bytes.length < 4 || bytes[3] !== 0x00) {
      return new NetcryptError(ErrorCode.TOR_PROXY_AUTH, `the ${proxyName} rejected our SOCKS username and password`, { cause });
    }
    replyAt = 4;
  } else if (method !== 0x00) {
    return new NetcryptError(ErrorCode.TOR_PROXY_AUTH, `the ${proxyName} chose an authentication method we did not offer (0x${hex(method ?? 0)})`, { cause });
  }
  const reply = bytes[replyAt + 1];
  if (bytes[replyAt] !== SOCKS_VERSION || reply === undefined || reply === 0x00) {
    return new NetcryptError(ErrorCode.TOR_CONNECT, `the ${proxyName} failed to answer the request to connect to ${target}`, { cause });
  }
  const known = SOCKS_REPLIES.get(reply);
  if (known === undefined) {
    return new NetcryptError(ErrorCode.TOR_CONNECT, `the ${proxyName} could not connect to ${target}: unknown SOCKS5 reply 0x${hex(reply)}`, { cause });
  }
  const [code, reason] = known;
  const subject = code === ErrorCode.TOR_ONION ? `Tor could not reach the onion service ${target}` : `the ${proxyName} could not connect to ${target}`;
  return new NetcryptError(code, `${subject}: ${reason} (SOCKS5 reply 0x${hex(reply)})`, { cause });
}

/**
 * `socks` takes a success reply with an address type it does not know as
 * success, and the bytes of that unknown address would then reach the
 * application as the destination's data: such a reply is a failure.
 */
function checkBoundAddressType(bytes: Buffer, proxyName: string, target: string): void {
  const replyAt = bytes[1] === METHOD_USERNAME_PASSWORD ? 4 : 2;
  const addressType = bytes[replyAt + 3];
  if (addressType === undefined || !ADDRESS_TYPES.has(addressType)) {
    throw new NetcryptError(
      ErrorCode.TOR_CONNECT,
      `the ${proxyName} answered the request to connect to ${target} with an unknown address type (0x${hex(addressType ?? 0)})`,
    );
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0').toUpperCase();
}

/**
 * RFC 1928 §6 reply codes, then Tor's onion-service codes (proposal 304 and
 * the ExtendedErrors SocksPort flag, which Tor needs before it sends them).
 */
const SOCKS_REPLIES = new Map<number, readonly [ErrorCode, string]>([
  [0x01, [ErrorCode.TOR_CONNECT, 'general SOCKS server failure']],
  [0x02, [ErrorCode.TOR_CONNECT, 'connection not allowed by ruleset']],
  [0x03, [ErrorCode.TOR_CONNECT, 'network unreachable']],
  [0x04, [ErrorCode.TOR_CONNECT, 'host unreachable']],
  [0x05, [ErrorCode.TOR_CONNECT, 'connection refused']],
  // Tor answers 0x06 when the stream timed out.
  [0x06, [ErrorCode.TOR_CONNECT, 'TTL expired (Tor: the connection timed out)']],
  [0x07, [ErrorCode.TOR_CONNECT, 'command not supported']],
  [0x08, [ErrorCode.TOR_CONNECT, 'address type not supported']],
  [0xf0, [ErrorCode.TOR_ONION, 'onion service descriptor not found (the service is offline or the address is wrong)']],
  [0xf1, [ErrorCode.TOR_ONION, 'onion service descriptor is invalid']],
  [0xf2, [ErrorCode.TOR_ONION, 'introduction to the onion service failed (the service is likely not running)']],
  [0xf3, [ErrorCode.TOR_ONION, 'rendezvous with the onion service failed']],
  [0xf4, [ErrorCode.TOR_ONION, 'the onion service requires client authorization, and none is configured']],
  [0xf5, [ErrorCode.TOR_ONION, 'the onion service rejected our client authorization']],
  [0xf6, [ErrorCode.TOR_ONION, 'invalid onion address (bad checksum, key or encoding)']],
  [0xf7, [ErrorCode.TOR_ONION, 'introduction to the onion service timed out']],
]);
