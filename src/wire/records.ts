/**
 * The record layer of netcrypt/1: after the handshake every frame is one
 * A256CBC-HS512 record under a per-direction key.
 *
 *   frame payload = type (1) ‖ IV (16) ‖ ciphertext ‖ tag (32)
 *   AAD           = sequence number (8, big-endian, implicit) ‖ type (1)
 *
 * The sequence number is never sent: each side counts. A replayed,
 * reordered, dropped or re-typed record therefore fails authentication.
 */

import { randomFillSync } from 'node:crypto';
import type { Backend } from '../backend/types.ts';
import { BLOCK_BYTES, IV_BYTES, KEY_BYTES, TAG_BYTES } from '../backend/types.ts';
import { ErrorCode, NetcryptError, authError, invalidArgument } from '../errors.ts';
import { FRAME_HEADER_BYTES } from './frames.ts';

export const RecordType = {
  /** Key confirmation: the transcript hash, sequence number 0 in each direction. */
  FINISHED: 0x01,
  /** Authenticated end of the stream, empty plaintext; a connection that ends without it was truncated. */
  CLOSE: 0x02,
  /** Authenticated refusal: the plaintext is the error code that made the sender give up (wire/alerts.ts). */
  ALERT: 0x03,
  /** A fragment of a message on a lane, more fragments follow. */
  FRAGMENT: 0x10,
  /** The last (or only) fragment of a message on a lane. */
  FINAL: 0x11,
  /** Several whole small messages on a lane, each behind a 4-byte length (wire/messages.ts). */
  BATCH: 0x20,
} as const;

/**
 * Lanes separate independent message streams on one channel without a
 * header inside every payload: 0 carries application messages, 1 and 2 file
 * transfer (control and content). The lane is part of the record type, so it
 * is authenticated too; a record on any other lane is a protocol error.
 */
export const LANE_COUNT = 3;
export const RECORD_HEADER_BYTES = 1 + IV_BYTES;
export const RECORD_OVERHEAD = RECORD_HEADER_BYTES + BLOCK_BYTES + TAG_BYTES;
/** Largest plaintext per record; messages above it are fragmented. */
export const MAX_RECORD_PLAINTEXT = 64 * 1024;
export const MAX_RECORD_FRAME = RECORD_OVERHEAD + MAX_RECORD_PLAINTEXT;

export function laneRecordType(lane: number, final: boolean): number {
  return (final ? RecordType.FINAL : RecordType.FRAGMENT) + 2 * lane;
}

export function batchRecordType(lane: number): number {
  return RecordType.BATCH + lane;
}

export type ParsedRecordType =
  | { kind: 'finished' | 'close' | 'alert' }
  | { kind: 'fragment'; lane: number; final: boolean }
  | { kind: 'batch'; lane: number };

export function parseRecordType(type: number): ParsedRecordType | null {
  if (type === RecordType.FINISHED) return { kind: 'finished' };
  if (type === RecordType.CLOSE) return { kind: 'close' };
  if (type === RecordType.ALERT) return { kind: 'alert' };
  const offset = type - RecordType.FRAGMENT;
  if (offset >= 0 && offset < 2 * LANE_COUNT) return { kind: 'fragment', lane: offset >> 1, final: (offset & 1) === 1 };
  const lane = type - RecordType.BATCH;
  if (lane >= 0 && lane < LANE_COUNT) return { kind: 'batch', lane };
  return null;
}

export type RandomSource = (length: number) => Uint8Array;

/** IVs come from node:crypto in batches: one system call per 256 records, not one per record. */
export function systemRandom(): RandomSource {
  const pool = Buffer.allocUnsafe(4096);
  let used = pool.length;
  return (length) => {
    if (length > pool.length) return randomFillSync(Buffer.allocUnsafe(length));
    if (used + length > pool.length) {
      randomFillSync(pool);
      used = 0;
    }
    const out = Buffer.from(pool.subarray(used, used + length));
    used += length;
    return out;
  };
}

/** Sequence numbers stay below 2^53 so they fit a JS number exactly; no connection gets near it. */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

function additionalData(sequence: number, type: number): Buffer {
  const aad = Buffer.allocUnsafe(9);
  aad.writeUInt32BE(Math.floor(sequence / 2 ** 32), 0);
  aad.writeUInt32BE(sequence >>> 0, 4);
  aad[8] = type;
  return aad;
}

function checkKey(key: Uint8Array): Uint8Array {
  if (key.length !== KEY_BYTES) throw invalidArgument(`record key must be ${KEY_BYTES} bytes`);
  return key;
}

/** Seals outgoing records for one direction. */
export class RecordSealer {
  #sequence = 0;
  readonly #key: Uint8Array;

  constructor(
    private readonly backend: Backend,
    key: Uint8Array,
    private readonly random: RandomSource,
  ) {
    this.#key = checkKey(key);
  }

  /**
   * Returns the whole frame as buffers — the 21-byte head (length, type, IV),
   * then the sealed body in the backend's pieces — for the socket to write
   * without concatenating.
   */
  seal(type: number, plaintext: Uint8Array): Uint8Array[] {
    if (plaintext.length > MAX_RECORD_PLAINTEXT) throw invalidArgument('record plaintext too large');
    if (this.#sequence >= MAX_SEQUENCE) throw new NetcryptError(ErrorCode.PROTOCOL, 'sequence numbers exhausted');
    const iv = this.random(IV_BYTES);
    const sealed = this.backend.sealPieces(this.#key, iv, additionalData(this.#sequence++, type), plaintext);
    let sealedLength = 0;
    for (const piece of sealed) sealedLength += piece.length;
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + RECORD_HEADER_BYTES);
    head.writeUInt32BE(RECORD_HEADER_BYTES + sealedLength, 0);
    head[FRAME_HEADER_BYTES] = type;
    head.set(iv, FRAME_HEADER_BYTES + 1);
    return [head, ...sealed];
  }
}

/** Opens incoming records for one direction, in order. */
export class RecordOpener {
  #sequence = 0;
  readonly #key: Uint8Array;

  constructor(
    private readonly backend: Backend,
    key: Uint8Array,
  ) {
    this.#key = checkKey(key);
  }

  /**
   * Opens one frame payload. Any failure to authenticate is ERR_AUTH, and
   * the stream is unusable afterwards. The frame limit lets through up to 15
   * bytes of padding room beyond MAX_RECORD_PLAINTEXT; an authentic record
   * that uses it broke the protocol (ERR_PROTOCOL).
   */
  open(payload: Uint8Array): { type: number; plaintext: Uint8Array } {
    if (payload.length < RECORD_OVERHEAD) throw authError();
    const type = payload[0]!;
    const iv = payload.subarray(1, RECORD_HEADER_BYTES);
    const plaintext = this.backend.open(this.#key, iv, additionalData(this.#sequence, type), payload.subarray(RECORD_HEADER_BYTES));
    this.#sequence++;
    if (plaintext.length > MAX_RECORD_PLAINTEXT) {
      throw new NetcryptError(ErrorCode.PROTOCOL, `record of ${plaintext.length} plaintext bytes; the limit is ${MAX_RECORD_PLAINTEXT}`);
    }
    return { type, plaintext };
  }
}
