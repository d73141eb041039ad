/**
 * Alerts: how a side that gives up tells the peer why, by error code.
 *
 * Before this side's FINISHED has left, the peer has no keys to open a
 * record, so the alert is a plaintext handshake frame — the canonical
 * MessagePack map `{ t: "alert", code: <str> }`, byte for byte:
 *
 *   82 a1 74 a5 616c657274 a4 636f6465 (a0 + n) <n code bytes>
 *
 * After it, the alert is an ALERT record (type 0x03) whose plaintext is the
 * code's bytes. A code is 5 to 31 bytes of `ERR_` and `A-Z 0-9 _`. A
 * plaintext alert is unauthenticated — anyone on the path can forge one —
 * so the receiver reports it as the peer's claim, never as a verdict.
 */

import { ErrorCode, NetcryptError } from '../errors.ts';

const ALERT_PREFIX = Buffer.from('82a174a5616c657274a4636f6465', 'hex');
const CODE_PATTERN = /^ERR_[A-Z0-9_]{1,27}$/;
const FIXSTR = 0xa0;

export function isAlertCode(code: string): boolean {
  return CODE_PATTERN.test(code);
}

function checkedCode(code: string): Buffer {
  if (!isAlertCode(code)) throw new NetcryptError(ErrorCode.INVALID_ARGUMENT, `${JSON.stringify(code)} is not an alert code`);
  return Buffer.from(code, 'ascii');
}

/** The plaintext alert frame payload, for before keys exist. */
export function encodeAlertMessage(code: string): Buffer {
  const bytes = checkedCode(code);
  return Buffer.concat([ALERT_PREFIX, Buffer.from([FIXSTR + bytes.length]), bytes]);
}

/** The ALERT record's plaintext. */
export function alertRecordPlaintext(code: string): Buffer {
  return checkedCode(code);
}

function decodeCode(bytes: Uint8Array): string {
  const code = Buffer.from(bytes).toString('latin1');
  if (!isAlertCode(code)) throw new NetcryptError(ErrorCode.PROTOCOL, 'malformed alert code');
  return code;
}

/**
 * The code of a plaintext alert frame, or undefined for a frame that is not
 * one (a hello, a key message, a record). A frame that starts as an alert
 * must be exactly one: anything else is ERR_PROTOCOL.
 */
export function decodeAlertMessage(payload: Uint8Array): string | undefined {
  if (payload.length < ALERT_PREFIX.length || !ALERT_PREFIX.equals(payload.subarray(0, ALERT_PREFIX.length))) return undefined;
  const length = payload[ALERT_PREFIX.length]! - FIXSTR;
  const code = payload.subarray(ALERT_PREFIX.length + 1);
  if (length < 0 || length > 31 || code.length !== length) throw new NetcryptError(ErrorCode.PROTOCOL, 'malformed alert');
  return decodeCode(code);
}

export function decodeAlertRecord(plaintext: Uint8Array): string {
  return decodeCode(plaintext);
}

/** What the receiver of an alert reports: the peer's code, kept, under one code of its own. */
export function peerAlertError(code: string, authenticated: boolean): NetcryptError {
  const how = authenticated ? 'in an authenticated alert' : 'in an unauthenticated alert, before keys were confirmed';
  return new NetcryptError(ErrorCode.PEER_ALERT, `the peer reported ${code} (${how})`, { origin: 'peer', peerCode: code, authenticated });
}
