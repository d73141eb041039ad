/**
 * The one error class netcrypt throws. Callers branch on `code`, which is
 * stable across versions; messages are for humans and may change.
 */

export const ErrorCode = {
  /** Any authentication failure: bad tag, wrong key, tampered or replayed data. Deliberately uniform. */
  AUTH: 'ERR_AUTH',
  /** A caller passed an argument of the wrong type, size or range. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** A requested backend cannot be loaded in this process. */
  BACKEND_UNAVAILABLE: 'ERR_BACKEND_UNAVAILABLE',
  /** A MessagePack envelope does not match the fixed schema. */
  BAD_ENVELOPE: 'ERR_BAD_ENVELOPE',
  /** A frame announced a length above the configured maximum. */
  FRAME_TOO_LARGE: 'ERR_FRAME_TOO_LARGE',
  /** A message or record is malformed at the protocol level. */
  PROTOCOL: 'ERR_PROTOCOL',
  /** The peer speaks another protocol version. */
  VERSION: 'ERR_VERSION',
  /** The peer's key is not the pinned or known key. */
  PEER_KEY_MISMATCH: 'ERR_PEER_KEY_MISMATCH',
  /** The connection ended without an authenticated close. */
  TRUNCATED: 'ERR_TRUNCATED',
  /** The channel is closed (locally or by the peer's authenticated close). */
  CLOSED: 'ERR_CLOSED',
  /** The connection could not be made (refused, unreachable, DNS); the system error is the `cause`. */
  CONNECT: 'ERR_CONNECT',
  /** A server could not listen on its address (in use, not permitted, no such address). */
  LISTEN: 'ERR_LISTEN',
  /**
   * The peer gave up and said why in an alert: its code is `peerCode`, and
   * `authenticated` says whether the alert was a record under the session
   * keys (true) or a plaintext handshake frame anyone could have forged (false).
   */
  PEER_ALERT: 'ERR_PEER_ALERT',
  /** An operation did not finish in time. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** A server refused a connection: too many connections, or too many handshakes in progress. */
  SERVER_BUSY: 'ERR_SERVER_BUSY',
  /** A server refused a handshake: the source address started too many in too short a time. */
  RATE_LIMITED: 'ERR_RATE_LIMITED',
  /** A server dropped a connection: the peer data it buffers for all connections reached its budget. */
  BUDGET_EXCEEDED: 'ERR_BUDGET_EXCEEDED',
  /**
   * The peer's request handler failed: its code is `remoteCode` (e.g. `ERR_NO_HANDLER` when the
   * peer has none), the message is the handler's (never its stack), `origin` is 'peer'.
   */
  REMOTE: 'ERR_REMOTE',
  /** request() refused at once: `maxPendingRequests` requests are already waiting for their replies. */
  TOO_MANY_REQUESTS: 'ERR_TOO_MANY_REQUESTS',
  /**
   * A send found the channel's send queue (`bufferedAmount`) at its limit,
   * `sendQueueLimitBytes`: under policy 'fail' that send is refused, under 'drop' the channel ends.
   */
  SEND_QUEUE_FULL: 'ERR_SEND_QUEUE_FULL',
  /** An operation was cancelled through an AbortSignal. */
  ABORTED: 'ERR_ABORTED',
  /**
   * A reconnecting client has no connection and the call could not wait for
   * one: the client is closed or gave up (the reason is the `cause`), or
   * `maxQueued` calls already wait.
   */
  NOT_CONNECTED: 'ERR_NOT_CONNECTED',
  /**
   * The connection ended while a call was in flight: the peer may or may not
   * have received it, and it is not sent again. The connection's error is the `cause`.
   */
  UNCONFIRMED: 'ERR_UNCONFIRMED',
  /** A key file or key material could not be used. */
  BAD_KEY: 'ERR_BAD_KEY',
  /** A received file name is unsafe. */
  BAD_FILENAME: 'ERR_BAD_FILENAME',
  /** A file transfer failed its integrity or size checks. */
  FILE_INTEGRITY: 'ERR_FILE_INTEGRITY',
  /** The target file exists and overwriting was not requested. */
  FILE_EXISTS: 'ERR_FILE_EXISTS',
  /** A local file operation failed (missing source, permissions, disk full). */
  FILE_IO: 'ERR_FILE_IO',
  /** The receiver refused a file offer: its onOffer hook said no, or the offer broke its maxFiles/maxBytes limit. */
  FILE_REFUSED: 'ERR_FILE_REFUSED',
  /** The source file changed while it was being sent. */
  FILE_CHANGED: 'ERR_FILE_CHANGED',
  /** The SOCKS proxy could not be reached. */
  TOR_PROXY_UNREACHABLE: 'ERR_TOR_PROXY_UNREACHABLE',
  /** The SOCKS proxy refused our credentials. */
  TOR_PROXY_AUTH: 'ERR_TOR_PROXY_AUTH',
  /** The SOCKS proxy (or Tor) could not reach the destination. */
  TOR_CONNECT: 'ERR_TOR_CONNECT',
  /** Tor could not find or reach an onion service. */
  TOR_ONION: 'ERR_TOR_ONION',
  /** The Tor control port refused a command or authentication. */
  TOR_CONTROL: 'ERR_TOR_CONTROL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Where an error arose: on this side, or reported by the peer over the channel. */
export type ErrorOrigin = 'local' | 'peer';

export interface NetcryptErrorOptions {
  cause?: unknown;
  /** Default 'local'. */
  origin?: ErrorOrigin;
  /** ERR_PEER_ALERT only: the code the peer sent. */
  peerCode?: string;
  /** ERR_PEER_ALERT only: whether the alert came under the session keys. */
  authenticated?: boolean;
  /** ERR_REMOTE only: the code the peer's request handler failed with. */
  remoteCode?: string;
}

// Symbol.for is shared by every copy of the package in a process, so the brand
// survives two installed versions (or one loaded twice), as undici's errors do.
const BRAND = Symbol.for('netcrypt.error');

export class NetcryptError extends Error {
  override readonly name = 'NetcryptError';
  readonly code: ErrorCode;
  readonly origin: ErrorOrigin;
  /** ERR_PEER_ALERT: the code the peer reported (a claim, not checked here). */
  readonly peerCode?: string;
  /** ERR_PEER_ALERT: true for an ALERT record under the session keys, false for a plaintext handshake alert. */
  readonly authenticated?: boolean;
  /** ERR_REMOTE: the code the peer's request handler failed with (a claim, not one of ours necessarily). */
  readonly remoteCode?: string;
  /** For ERR_CONNECT and file errors: the failing system call and its errno, copied from `cause`. */
  readonly syscall?: string;
  readonly errno?: number;

  constructor(code: ErrorCode, message: string, options?: NetcryptErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.origin = options?.origin ?? 'local';
    if (options?.peerCode !== undefined) this.peerCode = options.peerCode;
    if (options?.authenticated !== undefined) this.authenticated = options.authenticated;
    if (options?.remoteCode !== undefined) this.remoteCode = options.remoteCode;
    const system = options?.cause as NodeJS.ErrnoException | undefined;
    if (typeof system?.syscall === 'string') this.syscall = system.syscall;
    if (typeof system?.errno === 'number') this.errno = system.errno;
  }

  get [BRAND](): true {
    return true;
  }

  /** `instanceof` by brand, so an error from another copy of netcrypt is still a NetcryptError. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isNetcryptError(value);
  }
}

/** The single error every authentication failure produces, so failures cannot be told apart. */
export function authError(): NetcryptError {
  return new NetcryptError(ErrorCode.AUTH, 'authentication failed');
}

export function invalidArgument(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.INVALID_ARGUMENT, message);
}

/** True for an error from any copy of netcrypt in this process (optionally with this code). */
export function isNetcryptError(value: unknown, code?: ErrorCode): value is NetcryptError {
  if (typeof value !== 'object' || value === null || (value as { [BRAND]?: unknown })[BRAND] !== true) return false;
  return code === undefined || (value as NetcryptError).code === code;
}
