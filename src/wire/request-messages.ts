/**
 * The messages of request/response, carried on lane 3 (docs/PROTOCOL.md
 * §3.1), sans-I/O. Each is a 9-byte header, kind (1) ‖ id (8, big-endian),
 * then what the kind carries:
 *
 *   REQUEST  0x01  body                      requester → responder
 *   REPLY    0x02  body                      responder → requester
 *   ERROR    0x03  code length (1) ‖ code ‖ message length (2) ‖ message
 *   CANCEL   0x04  nothing                   requester → responder
 *
 * The decoder accepts exactly these forms and refuses anything else with
 * ERR_PROTOCOL; every length is checked against its bound before anything
 * is copied out. Bodies are views into the received message, not copies.
 */

import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';

export const REQUEST_LANE = 3;
/** Largest request or reply body. Requests are for calls, not bulk data: messages and files carry that. */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
/** How many requests one side may have outstanding on the other (sent, neither answered nor cancelled). */
export const MAX_OUTSTANDING_REQUESTS = 128;
export const MAX_REMOTE_CODE_BYTES = 64;
export const MAX_REMOTE_MESSAGE_BYTES = 1024;
/** Ids count from 1 and stay exact as JavaScript numbers. */
export const MAX_REQUEST_ID = Number.MAX_SAFE_INTEGER;

export const RequestKind = { REQUEST: 0x01, REPLY: 0x02, ERROR: 0x03, CANCEL: 0x04 } as const;

const HEADER_BYTES = 9;
/** The largest message on the lane: a full body behind its header (an ERROR is far shorter). */
export const MAX_REQUEST_MESSAGE_BYTES = HEADER_BYTES + MAX_REQUEST_BODY_BYTES;
/** Header bytes a request adds to its body. */
export const REQUEST_OVERHEAD_BYTES = HEADER_BYTES;

export type RequestMessage =
  | { kind: 'request'; id: number; body: Buffer }
  | { kind: 'reply'; id: number; body: Buffer }
  | { kind: 'error'; id: number; code: string; message: string }
  | { kind: 'cancel'; id: number };

/** What an ERROR's code may be: short, printable, unambiguous (an errno name, `ERR_…`, `not-found`). */
export const REMOTE_CODE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Characters that could mislead a terminal showing an error's message: never sent, refused on arrival. */
const MISLEADING = /[\p{Cc}\p{Bidi_Control}]/u;
const MISLEADING_ALL = new RegExp(MISLEADING, 'gu');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function protocolError(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, `requests: ${message}`);
}

function header(kind: number, id: number, bodyBytes: number): Buffer {
  if (!Number.isInteger(id) || id < 1 || id > MAX_REQUEST_ID) throw invalidArgument('request id out of range');
  const bytes = Buffer.allocUnsafe(HEADER_BYTES + bodyBytes);
  bytes[0] = kind;
  bytes.writeUInt32BE(Math.floor(id / 2 ** 32), 1);
  bytes.writeUInt32BE(id >>> 0, 5);
  return bytes;
}

function withBody(kind: number, id: number, body: Uint8Array): Buffer {
  if (body.length > MAX_REQUEST_BODY_BYTES) throw invalidArgument(`body of ${body.length} bytes exceeds ${MAX_REQUEST_BODY_BYTES}`);
  const bytes = header(kind, id, body.length);
  bytes.set(body, HEADER_BYTES);
  return bytes;
}

export function encodeRequest(id: number, body: Uint8Array): Buffer {
  return withBody(RequestKind.REQUEST, id, body);
}

export function encodeReply(id: number, body: Uint8Array): Buffer {
  return withBody(RequestKind.REPLY, id, body);
}

export function encodeCancel(id: number): Buffer {
  return header(RequestKind.CANCEL, id, 0);
}

/** `code` must already be safe (REMOTE_CODE); `message` is made safe here (remoteMessage). */
export function encodeError(id: number, code: string, message: string): Buffer {
  if (!REMOTE_CODE.test(code)) throw invalidArgument('error code must be 1 to 64 of A-Z a-z 0-9 _ . -');
  const text = Buffer.from(remoteMessage(message), 'utf8');
  const bytes = header(RequestKind.ERROR, id, 1 + code.length + 2 + text.length);
  bytes[HEADER_BYTES] = code.length;
  bytes.write(code, HEADER_BYTES + 1, 'latin1');
  bytes.writeUInt16BE(text.length, HEADER_BYTES + 1 + code.length);
  bytes.set(text, HEADER_BYTES + 3 + code.length);
  return bytes;
}

/** An error message as sent: misleading characters shown as '?' (a lone surrogate becomes U+FFFD), cut to MAX_REMOTE_MESSAGE_BYTES at a character boundary. */
export function remoteMessage(text: string): string {
  const safe = text.replace(MISLEADING_ALL, '?');
  const bytes = Buffer.from(safe, 'utf8');
  if (bytes.length <= MAX_REMOTE_MESSAGE_BYTES) return bytes.toString('utf8');
  let end = MAX_REMOTE_MESSAGE_BYTES;
  while ((bytes[end]! & 0xc0) === 0x80) end--; // back to the first byte of the character cut in two
  return bytes.subarray(0, end).toString('utf8');
}

export function decodeRequestMessage(bytes: Buffer): RequestMessage {
  if (bytes.length < HEADER_BYTES) throw protocolError(`message of ${bytes.length} bytes, shorter than its header`);
  // The channel refused a longer lane-3 message while it arrived; this covers any other caller.
  if (bytes.length > MAX_REQUEST_MESSAGE_BYTES) throw protocolError(`message longer than ${MAX_REQUEST_MESSAGE_BYTES} bytes`);
  const high = bytes.readUInt32BE(1);
  if (high >= 2 ** 21) throw protocolError('id above 2^53 - 1');
  const id = high * 2 ** 32 + bytes.readUInt32BE(5);
  if (id === 0) throw protocolError('id 0');
  switch (bytes[0]) {
    case RequestKind.REQUEST:
      return { kind: 'request', id, body: bytes.subarray(HEADER_BYTES) };
    case RequestKind.REPLY:
      return { kind: 'reply', id, body: bytes.subarray(HEADER_BYTES) };
    case RequestKind.CANCEL:
      if (bytes.length !== HEADER_BYTES) throw protocolError('CANCEL with content');
      return { kind: 'cancel', id };
    case RequestKind.ERROR:
      return decodeError(id, bytes);
    default:
      throw protocolError(`unknown message kind 0x${bytes[0]!.toString(16)}`);
  }
}

function decodeError(id: number, bytes: Buffer): RequestMessage {
  let at = HEADER_BYTES;
  if (bytes.length < at + 1) throw protocolError('ERROR without its code');
  const codeBytes = bytes[at++]!;
  if (codeBytes < 1 || codeBytes > MAX_REMOTE_CODE_BYTES) throw protocolError(`ERROR code of ${codeBytes} bytes`);
  if (bytes.length < at + codeBytes + 2) throw protocolError('ERROR truncated');
  const code = bytes.toString('latin1', at, at + codeBytes);
  if (!REMOTE_CODE.test(code)) throw protocolError('ERROR code holds characters outside A-Z a-z 0-9 _ . -');
  at += codeBytes;
  const messageBytes = bytes.readUInt16BE(at);
  at += 2;
  if (messageBytes > MAX_REMOTE_MESSAGE_BYTES) throw protocolError(`ERROR message of ${messageBytes} bytes`);
  if (bytes.length !== at + messageBytes) throw protocolError('ERROR message length does not match the bytes that follow');
  let message: string;
  try {
    message = strictUtf8.decode(bytes.subarray(at));
  } catch {
    throw protocolError('ERROR message is not UTF-8');
  }
  if (MISLEADING.test(message)) throw protocolError('ERROR message holds control or bidirectional characters');
  return { kind: 'error', id, code, message };
}
