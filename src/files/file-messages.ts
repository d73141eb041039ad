/**
 * The control messages of file transfer, carried on lane 1 as MessagePack
 * maps with a fixed schema; file content travels raw on lane 2. Decoding is
 * strict like the handshake's: unknown or missing fields, wrong types, wrong
 * lengths and trailing bytes are ERR_PROTOCOL. Names are only checked for
 * type here; whether they are safe is file-names.ts's job (ERR_BAD_FILENAME).
 *
 *   sender → receiver   manifest { id, entries }        every entry, before any content
 *                       start    { id, index, offset }  content of entry `index` follows on lane 2
 *                       end      { id, index, sha256 }  SHA-256 of the whole file
 *                       send-failed { id, code, message }
 *   receiver → sender   want     { id, index, offset, prefix, credit }
 *                                send entry `index` from `offset`; `prefix` is the SHA-256 of
 *                                the bytes already held, `credit` the bytes it may send now
 *                       credit   { id, bytes }          more bytes may be sent
 *                       done     { id }                 every entry is in place
 *                       receive-failed { id, code, message }
 *
 * `id` numbers the sender's batches so a message that crosses a failure in
 * flight is recognised as stale.
 */

import { Decoder, encode } from '@msgpack/msgpack';
import { ErrorCode, NetcryptError } from '../errors.ts';

export const CONTROL_LANE = 1;
export const DATA_LANE = 2;
/** Most entries one manifest may hold. */
export const MAX_ENTRIES = 100_000;
export const SHA256_BYTES = 32;
const MAX_TEXT_BYTES = 1024;
/** The range of a JavaScript Date, in milliseconds either side of the epoch. */
const MAX_TIME_MS = 8.64e15;

export interface FileEntry {
  type: 'file';
  /** Path components relative to the receiver's folder; one for a plain file. */
  path: string[];
  size: number;
  /** Permission bits (st_mode & 0o7777); the receiver keeps only 0o777. */
  mode: number;
  /** Modification time in milliseconds since the epoch. */
  mtime: number;
}

export interface DirectoryEntry {
  type: 'dir';
  path: string[];
  mode: number;
}

export type Entry = FileEntry | DirectoryEntry;

export type SenderMessage =
  | { t: 'manifest'; id: number; entries: Entry[] }
  | { t: 'start'; id: number; index: number; offset: number }
  | { t: 'end'; id: number; index: number; sha256: Uint8Array }
  | { t: 'send-failed'; id: number; code: ErrorCode; message: string };

export type ReceiverMessage =
  | { t: 'want'; id: number; index: number; offset: number; prefix: Uint8Array; credit: number }
  | { t: 'credit'; id: number; bytes: number }
  | { t: 'done'; id: number }
  | { t: 'receive-failed'; id: number; code: ErrorCode; message: string };

export type ControlMessage = SenderMessage | ReceiverMessage;

const FIELDS: Record<ControlMessage['t'], string[]> = {
  manifest: ['t', 'id', 'entries'],
  start: ['t', 'id', 'index', 'offset'],
  end: ['t', 'id', 'index', 'sha256'],
  'send-failed': ['t', 'id', 'code', 'message'],
  want: ['t', 'id', 'index', 'offset', 'prefix', 'credit'],
  credit: ['t', 'id', 'bytes'],
  done: ['t', 'id'],
  'receive-failed': ['t', 'id', 'code', 'message'],
};
const FILE_FIELDS = ['type', 'path', 'size', 'mode', 'mtime'];
const DIRECTORY_FIELDS = ['type', 'path', 'mode'];
const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

export function encodeControl(message: ControlMessage): Uint8Array {
  return encode(message);
}

function protocolError(message: string, cause?: unknown): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, `file transfer: ${message}`, { cause });
}

type Fields = Record<string, unknown>;

function isMap(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function checkFields(map: Fields, expected: string[], what: string): void {
  const keys = Object.keys(map);
  if (keys.length !== expected.length || !expected.every((k) => Object.hasOwn(map, k))) {
    throw protocolError(`${what} has fields [${keys.join(', ')}]; expected [${expected.join(', ')}]`);
  }
}

function count(map: Fields, name: string, min = 0): number {
  const value = map[name];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw protocolError(`"${name}" must be an integer ≥ ${min}`);
  return value;
}

function digest(map: Fields, name: string): Uint8Array {
  const value = map[name];
  if (!(value instanceof Uint8Array) || value.length !== SHA256_BYTES) throw protocolError(`"${name}" must be ${SHA256_BYTES} bytes`);
  return value;
}

function decodeEntry(value: unknown): Entry {
  if (!isMap(value)) throw protocolError('manifest entry is not a map');
  const { type, path } = value;
  if (!Array.isArray(path) || !path.every((c) => typeof c === 'string')) throw protocolError('entry path must be an array of strings');
  const mode = count(value, 'mode');
  if (mode > 0o7777) throw protocolError('entry mode out of range');
  if (type === 'dir') {
    checkFields(value, DIRECTORY_FIELDS, 'directory entry');
    return { type, path, mode };
  }
  if (type !== 'file') throw protocolError('entry type must be "file" or "dir"');
  checkFields(value, FILE_FIELDS, 'file entry');
  const { mtime } = value;
  if (typeof mtime !== 'number' || !Number.isFinite(mtime) || Math.abs(mtime) > MAX_TIME_MS) throw protocolError('entry mtime out of range');
  return { type, path, size: count(value, 'size'), mode, mtime };
}

/** A failure report's text, with anything that could mislead a terminal replaced. */
function text(map: Fields): string {
  const value = map.message;
  if (typeof value !== 'string') throw protocolError('"message" must be a string');
  return value.replace(/[\p{Cc}\p{Bidi_Control}]/gu, '?');
}

function failureCode(map: Fields): ErrorCode {
  const value = map.code;
  if (typeof value !== 'string' || !ERROR_CODES.has(value)) throw protocolError('"code" is not a netcrypt error code');
  return value as ErrorCode;
}

export function decodeControl(bytes: Uint8Array): ControlMessage {
  const decoder = new Decoder({
    maxStrLength: MAX_TEXT_BYTES,
    maxBinLength: SHA256_BYTES,
    maxArrayLength: MAX_ENTRIES,
    maxMapLength: 8,
    maxExtLength: 0,
  });
  let map: unknown;
  try {
    map = decoder.decode(bytes);
  } catch (error) {
    throw protocolError('control message is not valid MessagePack', error);
  }
  if (!isMap(map)) throw protocolError('control message is not a map');
  const t = map.t;
  if (typeof t !== 'string' || !Object.hasOwn(FIELDS, t)) throw protocolError(`unknown control message ${JSON.stringify(String(t).slice(0, 32))}`);
  checkFields(map, FIELDS[t as ControlMessage['t']], t);
  const id = count(map, 'id', 1);
  switch (t) {
    case 'manifest': {
      const entries = map.entries;
      if (!Array.isArray(entries)) throw protocolError('"entries" must be an array');
      return { t, id, entries: entries.map(decodeEntry) };
    }
    case 'start':
      return { t, id, index: count(map, 'index'), offset: count(map, 'offset') };
    case 'end':
      return { t, id, index: count(map, 'index'), sha256: digest(map, 'sha256') };
    case 'want':
      return { t, id, index: count(map, 'index'), offset: count(map, 'offset'), prefix: digest(map, 'prefix'), credit: count(map, 'credit', 1) };
    case 'credit':
      return { t, id, bytes: count(map, 'bytes', 1) };
    case 'done':
      return { t, id };
    default:
      return { t: t as 'send-failed' | 'receive-failed', id, code: failureCode(map), message: text(map) };
  }
}
