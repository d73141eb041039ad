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
  /** An operation did not finish in time. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** An operation was cancelled through an AbortSignal. */
  ABORTED: 'ERR_ABORTED',
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

export class NetcryptError extends Error {
  override readonly name = 'NetcryptError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The single error every authentication failure produces, so failures cannot be told apart. */
export function authError(): NetcryptError {
  return new NetcryptError(ErrorCode.AUTH, 'authentication failed');
}

export function invalidArgument(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.INVALID_ARGUMENT, message);
}

export function isNetcryptError(value: unknown, code?: ErrorCode): value is NetcryptError {
  return value instanceof NetcryptError && (code === undefined || value.code === code);
}
