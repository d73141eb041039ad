/**
 * The control messages of file transfer, carried on lane 1 as MessagePack
 * maps with a fixed schema; file content travels raw on lane 2. Both ends
 * use the canonical form of strict-msgpack.ts with the keys in the order
 * listed below; anything else (an unknown, missing or reordered field, a
 * wrong type, length or range, a longer encoding, trailing bytes) is
 * ERR_PROTOCOL. Names are checked here only for size and strict UTF-8;
 * whether they are safe is file-names.ts's job (ERR_BAD_FILENAME).
 *
 *   sender → receiver   manifest { id, entries }        every entry, before any content; an entry is
 *                                { type: 'file', path, size, mode, mtime } or { type: 'dir', path, mode }
 *                       start    { id, index, offset }  content of entry `index` follows on lane 2
 *                       end      { id, index, sha256 }  SHA-256 of the whole file
 *                       send-failed { id, code, message }
 *   receiver → sender   want     { id, index, offset, nonce, prefix, credit }
 *                                send entry `index` from `offset`; `prefix` is HMAC-SHA256 keyed
 *                                with the fresh random `nonce` over the `offset` bytes already held
 *                                (never a plain SHA-256, which a peer could extend), `credit` the
 *                                bytes it may send now
 *                       credit   { id, bytes }          more bytes may be sent
 *                       done     { id }                 every entry is in place
 *                       receive-failed { id, code, message }
 *
 * `id` numbers the sender's batches so a message that crosses a failure in
 * flight is recognised as stale.
 */

import { StrictReader, StrictWriter } from '../codec/strict-msgpack.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { MAX_DEPTH, MAX_PATH_BYTES } from './file-names.ts';

export const CONTROL_LANE = 1;
export const DATA_LANE = 2;
/** Most entries one manifest may hold. */
export const MAX_ENTRIES = 100_000;
/**
 * Most path components one manifest may hold, all entries together (four per
 * entry at the largest entry count). Without it a manifest of deep paths of
 * one-letter folders decodes to about 11 bytes of heap per byte received.
 */
export const MAX_MANIFEST_COMPONENTS = 4 * MAX_ENTRIES;
export const SHA256_BYTES = 32;
/** Longest failure text, and longest single path component the decoder reads (file-names.ts refuses > 255). */
const MAX_TEXT_BYTES = 1024;
/** The range of a JavaScript Date, in milliseconds either side of the epoch. */
const MAX_TIME_MS = 8.64e15;

/**
 * Byte caps, checked before decoding. Every message but a manifest is a few
 * fields (at most ~1.1 KiB with a full failure text); a manifest may be no
 * longer than its entry count allows, and never longer than the lane's cap,
 * which the channel enforces while the message is still arriving.
 */
export const MAX_SMALL_CONTROL_BYTES = 4096;
/** The lane-1 cap: the largest manifest (about 100 000 entries with 150-byte paths). */
export const MAX_CONTROL_MESSAGE_BYTES = 16 * 1024 * 1024;
/** The longest entry the decoder accepts: a file whose path has MAX_DEPTH str16-headed components totalling MAX_PATH_BYTES. */
const MAX_ENTRY_BYTES = 1 + 5 + 5 + 5 + 3 + MAX_DEPTH * 3 + MAX_PATH_BYTES + 5 + 9 + 5 + 3 + 6 + 9;
/** The shortest entry: `{ type: 'dir', path: [], mode: 0 }`. */
const MIN_ENTRY_BYTES = 22;

export interface FileEntry {
  type: 'file';
  /** Path components relative to the receiver's folder; one for a plain file. */
  path: string[];
  size: number;
  /** Permission bits (st_mode & 0o7777); the receiver keeps only 0o777. */
  mode: number;
  /** Modification time, an integer number of milliseconds since the epoch. */
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
  | { t: 'want'; id: number; index: number; offset: number; nonce: Uint8Array; prefix: Uint8Array; credit: number }
  | { t: 'credit'; id: number; bytes: number }
  | { t: 'done'; id: number }
  | { t: 'receive-failed'; id: number; code: ErrorCode; message: string };

export type ControlMessage = SenderMessage | ReceiverMessage;

/** Each message's fields after `t`, in their order on the wire. */
const FIELDS: Record<ControlMessage['t'], string[]> = {
  manifest: ['id', 'entries'],
  start: ['id', 'index', 'offset'],
  end: ['id', 'index', 'sha256'],
  'send-failed': ['id', 'code', 'message'],
  want: ['id', 'index', 'offset', 'nonce', 'prefix', 'credit'],
  credit: ['id', 'bytes'],
  done: ['id'],
  'receive-failed': ['id', 'code', 'message'],
};
const ERROR_CODES = new Set<string>(Object.values(ErrorCode));
const MAX_COUNT = Number.MAX_SAFE_INTEGER;

function writeEntry(w: StrictWriter, entry: Entry): void {
  w.map(entry.type === 'file' ? 5 : 3).key('type').str(entry.type).key('path').array(entry.path.length);
  for (const component of entry.path) w.str(component);
  if (entry.type === 'file') w.key('size').int(entry.size).key('mode').int(entry.mode).key('mtime').int(entry.mtime);
  else w.key('mode').int(entry.mode);
}

/** The message's one byte form; a manifest above MAX_CONTROL_MESSAGE_BYTES (the receiver's cap) is ERR_INVALID_ARGUMENT. */
export function encodeControl(message: ControlMessage): Uint8Array {
  const w = new StrictWriter();
  const fields = FIELDS[message.t];
  w.map(1 + fields.length).key('t').str(message.t);
  for (const name of fields) {
    const value = (message as unknown as Record<string, unknown>)[name];
    w.key(name);
    if (name === 'entries') {
      const entries = value as Entry[];
      const components = entries.reduce((sum, entry) => sum + entry.path.length, 0);
      if (components > MAX_MANIFEST_COMPONENTS) {
        throw invalidArgument(`a transfer's paths hold at most ${MAX_MANIFEST_COMPONENTS} components in all; this one has ${components}`);
      }
      w.array(entries.length);
      for (const entry of entries) writeEntry(w, entry);
    } else if (value instanceof Uint8Array) w.bin(value);
    else if (name === 'message') w.str(reportText(value as string));
    else if (typeof value === 'string') w.str(value);
    else w.int(value as number);
  }
  const bytes = w.finish();
  if (bytes.length > MAX_CONTROL_MESSAGE_BYTES) {
    throw invalidArgument(`${message.t} of ${bytes.length} bytes exceeds the ${MAX_CONTROL_MESSAGE_BYTES}-byte limit of a control message`);
  }
  return bytes;
}

function protocolError(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, `file transfer: ${message}`);
}

/** Counts the path components a manifest has used so far. */
interface ComponentBudget {
  left: number;
}

function readPath(r: StrictReader, budget: ComponentBudget): string[] {
  let bytes = 0;
  const count = r.arrayHeader(MAX_DEPTH, 1);
  budget.left -= count;
  if (budget.left < 0) throw protocolError(`manifest holds more than ${MAX_MANIFEST_COMPONENTS} path components`);
  const path: string[] = [];
  for (let i = 0; i < count; i++) {
    const component = r.str(0, MAX_TEXT_BYTES);
    bytes += Buffer.byteLength(component, 'utf8');
    if (bytes > MAX_PATH_BYTES) throw protocolError(`entry path longer than ${MAX_PATH_BYTES} bytes`);
    path.push(component);
  }
  return path;
}

function readEntry(r: StrictReader, budget: ComponentBudget): Entry {
  const count = r.map(3, 5);
  r.key('type');
  const type = r.str(3, 4);
  if ((type !== 'file' || count !== 5) && (type !== 'dir' || count !== 3)) throw protocolError('entry must be a file of 5 fields or a dir of 3');
  r.key('path');
  const path = readPath(r, budget);
  if (type === 'dir') {
    r.key('mode');
    return { type, path, mode: r.int(0, 0o7777) };
  }
  r.key('size');
  const size = r.int(0, MAX_COUNT);
  r.key('mode');
  const mode = r.int(0, 0o7777);
  r.key('mtime');
  return { type, path, size, mode, mtime: r.int(-MAX_TIME_MS, MAX_TIME_MS) };
}

/** The entries, the manifest's last field: no more bytes may follow them than their count allows. */
function readEntries(r: StrictReader): Entry[] {
  const count = r.arrayHeader(MAX_ENTRIES, MIN_ENTRY_BYTES);
  if (r.remaining > count * MAX_ENTRY_BYTES) throw protocolError(`manifest of ${count} entries longer than ${count * MAX_ENTRY_BYTES} bytes`);
  const budget = { left: MAX_MANIFEST_COMPONENTS };
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) entries.push(readEntry(r, budget));
  return entries;
}

/** Characters that could mislead a terminal showing a failure report: never sent, refused on arrival. */
const MISLEADING = /[\p{Cc}\p{Bidi_Control}]/u;

/** A failure report's text as sent: misleading characters shown as '?', cut to MAX_TEXT_BYTES at a character boundary. */
export function reportText(text: string): string {
  const safe = text.replace(new RegExp(MISLEADING, 'gu'), '?');
  const bytes = Buffer.from(safe, 'utf8');
  if (bytes.length <= MAX_TEXT_BYTES) return safe;
  let end = MAX_TEXT_BYTES;
  while ((bytes[end]! & 0xc0) === 0x80) end--; // back to the first byte of the character cut in two
  return bytes.subarray(0, end).toString('utf8');
}

/** A failure report's text: within MAX_TEXT_BYTES, and without characters that could mislead a terminal. */
function readText(r: StrictReader): string {
  const text = r.str(0, MAX_TEXT_BYTES);
  if (MISLEADING.test(text)) throw protocolError('failure report text holds control or bidirectional characters');
  return text;
}

function readCode(r: StrictReader): ErrorCode {
  const code = r.str(1, 64);
  if (!ERROR_CODES.has(code)) throw protocolError('"code" is not a netcrypt error code');
  return code as ErrorCode;
}

export function decodeControl(bytes: Uint8Array): ControlMessage {
  // The channel already refused a longer lane-1 message while it arrived; this covers any other caller.
  if (bytes.length > MAX_CONTROL_MESSAGE_BYTES) throw protocolError(`control message longer than ${MAX_CONTROL_MESSAGE_BYTES} bytes`);
  const r = new StrictReader(bytes, protocolError);
  const count = r.map(2, 7);
  r.key('t');
  const t = r.str(1, 16) as ControlMessage['t'];
  if (!Object.hasOwn(FIELDS, t)) throw protocolError(`unknown control message ${JSON.stringify(t)}`);
  if (count !== 1 + FIELDS[t].length) throw protocolError(`${t} must have ${1 + FIELDS[t].length} fields`);
  if (t !== 'manifest' && bytes.length > MAX_SMALL_CONTROL_BYTES) throw protocolError(`${t} longer than ${MAX_SMALL_CONTROL_BYTES} bytes`);
  r.key('id');
  const id = r.int(1, MAX_COUNT);
  const message = readFields(r, t, id);
  r.end();
  return message;
}

/** The fields after `t` and `id`, in FIELDS order. */
function readFields(r: StrictReader, t: ControlMessage['t'], id: number): ControlMessage {
  const field = <T>(name: string, read: () => T): T => {
    r.key(name);
    return read();
  };
  const index = () => field('index', () => r.int(0, MAX_ENTRIES - 1));
  const digest = (name: string) => field(name, () => r.bin(SHA256_BYTES, SHA256_BYTES));
  switch (t) {
    case 'manifest':
      return { t, id, entries: field('entries', () => readEntries(r)) };
    case 'start':
      return { t, id, index: index(), offset: field('offset', () => r.int(0, MAX_COUNT)) };
    case 'end':
      return { t, id, index: index(), sha256: digest('sha256') };
    case 'want':
      return {
        t,
        id,
        index: index(),
        offset: field('offset', () => r.int(0, MAX_COUNT)),
        nonce: digest('nonce'),
        prefix: digest('prefix'),
        credit: field('credit', () => r.int(1, MAX_COUNT)),
      };
    case 'credit':
      return { t, id, bytes: field('bytes', () => r.int(1, MAX_COUNT)) };
    case 'done':
      return { t, id };
    case 'send-failed':
    case 'receive-failed':
      return { t, id, code: field('code', () => readCode(r)), message: field('message', () => readText(r)) };
  }
}
