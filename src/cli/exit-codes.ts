/**
 * Exit codes a script can branch on, and the one line every failure
 * prints: `netcrypt: <what happened> (<ERR_CODE>)`, never a stack trace.
 * Documented in docs/CLI.md; the numbers are part of the interface.
 */

import { ErrorCode, NetcryptError, isNetcryptError } from '../index.ts';

export const ExitCode = {
  OK: 0,
  /** Anything not listed below: a local file problem, a bad key file, a name that exists. */
  FAILURE: 1,
  /** The command line was wrong: unknown option, missing argument, bad value. */
  USAGE: 2,
  /** The peer's key was refused (pin, known hosts, or a person said no), or the peer refused ours or our offer. */
  TRUST: 3,
  /** What arrived failed authentication or verification, or broke the protocol. */
  INTEGRITY: 4,
  /** The connection was cut or went silent before the work was done. */
  TRUNCATED: 5,
  /** The peer could not be reached. */
  UNREACHABLE: 6,
  /** Interrupted by Ctrl-C (128 + SIGINT), as shells report it. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const BY_ERROR_CODE: Partial<Record<ErrorCode, ExitCode>> = {
  [ErrorCode.INVALID_ARGUMENT]: ExitCode.USAGE,
  [ErrorCode.PEER_KEY_MISMATCH]: ExitCode.TRUST,
  [ErrorCode.FILE_REFUSED]: ExitCode.TRUST,
  [ErrorCode.AUTH]: ExitCode.INTEGRITY,
  [ErrorCode.FILE_INTEGRITY]: ExitCode.INTEGRITY,
  [ErrorCode.PROTOCOL]: ExitCode.INTEGRITY,
  [ErrorCode.VERSION]: ExitCode.INTEGRITY,
  [ErrorCode.BAD_ENVELOPE]: ExitCode.INTEGRITY,
  [ErrorCode.FRAME_TOO_LARGE]: ExitCode.INTEGRITY,
  [ErrorCode.BAD_FILENAME]: ExitCode.INTEGRITY,
  [ErrorCode.TRUNCATED]: ExitCode.TRUNCATED,
  [ErrorCode.CLOSED]: ExitCode.TRUNCATED,
  [ErrorCode.TIMEOUT]: ExitCode.TRUNCATED,
  [ErrorCode.CONNECT]: ExitCode.UNREACHABLE,
  [ErrorCode.TOR_PROXY_UNREACHABLE]: ExitCode.UNREACHABLE,
  [ErrorCode.TOR_CONNECT]: ExitCode.UNREACHABLE,
  [ErrorCode.TOR_ONION]: ExitCode.UNREACHABLE,
  [ErrorCode.SERVER_BUSY]: ExitCode.UNREACHABLE,
  [ErrorCode.RATE_LIMITED]: ExitCode.UNREACHABLE,
};

/** The person (or --pin) on this side did not accept the peer. */
export function refused(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.PEER_KEY_MISMATCH, message);
}

/** A command line that cannot work, found after parsing (exit code 2). */
export function invalidUsage(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.INVALID_ARGUMENT, message);
}

export function exitCodeFor(error: unknown): ExitCode {
  if (!isNetcryptError(error)) return ExitCode.FAILURE;
  // An alert carries the peer's own reason (say ERR_PEER_KEY_MISMATCH: it refused our key); that says what kind of failure it was.
  const code = error.code === ErrorCode.PEER_ALERT && error.peerCode ? (error.peerCode as ErrorCode) : error.code;
  return BY_ERROR_CODE[code] ?? ExitCode.FAILURE;
}

/** The one line a failure prints. Errors that are not netcrypt's (bugs) show their message, still on one line. */
export function failureLine(error: unknown): string {
  if (isNetcryptError(error)) {
    const who = error.origin === 'peer' && !error.message.startsWith('the peer') ? 'the peer reports: ' : '';
    return `netcrypt: ${who}${oneLine(error.message)} (${error.code})`;
  }
  return `netcrypt: ${oneLine(error instanceof Error ? error.message : String(error))}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/**
 * Wraps a command's action: a failure prints its one line and exits with
 * its code; success exits 0 once stdout has taken everything written. The
 * process exits explicitly because stdin (a terminal, say) may still hold the loop.
 * With --json the failure is also an `error` event on `events` (stderr for
 * the pipe commands, whose stdout is data).
 */
export function runCommand<Args extends unknown[]>(
  action: (...args: Args) => Promise<void>,
  { events = process.stdout }: { events?: NodeJS.WritableStream } = {},
): (...args: Args) => Promise<void> {
  return async (...args) => {
    process.once('SIGINT', () => {
      process.stderr.write('\nnetcrypt: interrupted\n');
      process.exit(ExitCode.INTERRUPTED);
    });
    let code: ExitCode = ExitCode.OK;
    try {
      await action(...args);
    } catch (error) {
      code = exitCodeFor(error);
      process.stderr.write(`${failureLine(error)}\n`);
      // commander passes the options object just before the command itself.
      if ((args.at(-2) as { json?: boolean } | undefined)?.json) events.write(`${JSON.stringify(errorEvent(error, code))}\n`);
    }
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(code);
  };
}

function errorEvent(error: unknown, exitCode: ExitCode): Record<string, unknown> {
  if (!isNetcryptError(error)) return { event: 'error', message: error instanceof Error ? error.message : String(error), exitCode };
  return { event: 'error', code: error.code, origin: error.origin, message: error.message, exitCode };
}

/** For commander's exitOverride: help and --version exit 0, every usage error 2. */
export function exitOnUsageError(error: { exitCode: number }): never {
  process.exit(error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE);
}
