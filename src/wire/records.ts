/**
 * The record layer of netcrypt/1: after the handshake every frame is one
 * record of the negotiated suite under a per-direction key.
 *
 *   a256cbc-hs512:  frame payload = type (1) ‖ IV (16) ‖ ciphertext ‖ tag (32)
 *   a256gcm:        frame payload = type (1) ‖ ciphertext ‖ tag (16),
 *                   nonce = IV XOR (0⁴ ‖ sequence)
 *   both:           AAD = sequence number (8, big-endian, implicit) ‖ type (1)
 *
 * The sequence number is never sent: each side counts. A replayed,
 * reordered, dropped or re-typed record therefore fails authentication.
 * A KEY_UPDATE record ratchets its sender's direction key and restarts that
 * direction's sequence at 0 (docs/PROTOCOL.md §3).
 */

import { createHmac, randomFillSync } from 'node:crypto';
import type { Backend } from '../backend/types.ts';
import { BLOCK_BYTES, GCM_KEY_BYTES, GCM_NONCE_BYTES, GCM_TAG_BYTES, IV_BYTES, KEY_BYTES, TAG_BYTES } from '../backend/types.ts';
import { ErrorCode, NetcryptError, authError, invalidArgument } from '../errors.ts';
import { FRAME_HEADER_BYTES } from './frames.ts';

export const RecordType = {
  /** Key confirmation: the transcript hash, sequence number 0 in each direction. */
  FINISHED: 0x01,
  /** Authenticated end of the stream, empty plaintext; a connection that ends without it was truncated. */
  CLOSE: 0x02,
  /** Authenticated refusal: the plaintext is the error code that made the sender give up (wire/alerts.ts). */
  ALERT: 0x03,
  /** Empty plaintext: the sender's next record is under its next direction key, sequence 0. */
  KEY_UPDATE: 0x04,
  /** Liveness probe: PING_BYTES opaque bytes the receiver must echo in a PONG. */
  PING: 0x05,
  /** The answer to the one outstanding PING: exactly its bytes. */
  PONG: 0x06,
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
 * transfer (control and content), 3 requests and their replies. The lane is part of the record type, so it
 * is authenticated too; a record on any other lane is a protocol error.
 */
export const LANE_COUNT = 4;
/** Largest plaintext per record; messages above it are fragmented. */
export const MAX_RECORD_PLAINTEXT = 64 * 1024;

export type SuiteName = 'a256gcm' | 'a256cbc-hs512';
/** Negotiation picks the first of these that both hellos list: the fastest first. */
export const SUITE_PREFERENCE: readonly SuiteName[] = ['a256gcm', 'a256cbc-hs512'];

export interface Suite {
  readonly name: SuiteName;
  /** Bytes of one direction's key material: the AEAD key, and for GCM the 12-byte IV after it. */
  readonly keyMaterialBytes: number;
  /** The largest record frame payload; anything longer is refused before it is buffered. */
  readonly maxFrameBytes: number;
}

const CBC_HEADER_BYTES = 1 + IV_BYTES;
const GCM_HEADER_BYTES = 1;

export const SUITES: Readonly<Record<SuiteName, Suite>> = {
  // Padding rounds a full 65 536-byte plaintext up to 65 552.
  'a256cbc-hs512': { name: 'a256cbc-hs512', keyMaterialBytes: KEY_BYTES, maxFrameBytes: CBC_HEADER_BYTES + MAX_RECORD_PLAINTEXT + BLOCK_BYTES + TAG_BYTES },
  a256gcm: { name: 'a256gcm', keyMaterialBytes: GCM_KEY_BYTES + GCM_NONCE_BYTES, maxFrameBytes: GCM_HEADER_BYTES + MAX_RECORD_PLAINTEXT + GCM_TAG_BYTES },
};

/** The largest record frame of any suite. */
export const MAX_RECORD_FRAME = Math.max(...Object.values(SUITES).map((suite) => suite.maxFrameBytes));

export function isSuiteName(name: unknown): name is SuiteName {
  return name === 'a256gcm' || name === 'a256cbc-hs512';
}

/**
 * When a sender ratchets its key by itself: once it has sealed `records`
 * records or `bytes` plaintext bytes under the current one. The defaults are
 * far inside both suites' limits (docs/PROTOCOL.md §3, *Key update*).
 */
export interface KeyUpdatePolicy {
  readonly records: number;
  readonly bytes: number;
}

export const DEFAULT_KEY_UPDATE_POLICY: KeyUpdatePolicy = { records: 2 ** 24, bytes: 2 ** 34 };

/** The plaintext of a PING and of its PONG: always exactly this many opaque bytes. */
export const PING_BYTES = 8;

export function laneRecordType(lane: number, final: boolean): number {
  return (final ? RecordType.FINAL : RecordType.FRAGMENT) + 2 * lane;
}

export function batchRecordType(lane: number): number {
  return RecordType.BATCH + lane;
}

export type ParsedRecordType =
  | { kind: 'finished' | 'close' | 'alert' | 'key-update' | 'ping' | 'pong' }
  | { kind: 'fragment'; lane: number; final: boolean }
  | { kind: 'batch'; lane: number };

function classifyRecordType(type: number): ParsedRecordType | null {
  if (type === RecordType.FINISHED) return { kind: 'finished' };
  if (type === RecordType.CLOSE) return { kind: 'close' };
  if (type === RecordType.ALERT) return { kind: 'alert' };
  if (type === RecordType.KEY_UPDATE) return { kind: 'key-update' };
  if (type === RecordType.PING) return { kind: 'ping' };
  if (type === RecordType.PONG) return { kind: 'pong' };
  const offset = type - RecordType.FRAGMENT;
  if (offset >= 0 && offset < 2 * LANE_COUNT) return { kind: 'fragment', lane: offset >> 1, final: (offset & 1) === 1 };
  const lane = type - RecordType.BATCH;
  if (lane >= 0 && lane < LANE_COUNT) return { kind: 'batch', lane };
  return null;
}

/** Every type byte classified once, so a record costs a lookup, not an object. */
const RECORD_TYPES: readonly (Readonly<ParsedRecordType> | null)[] = Array.from({ length: 256 }, (_, type) => {
  const parsed = classifyRecordType(type);
  return parsed && Object.freeze(parsed);
});

export function parseRecordType(type: number): ParsedRecordType | null {
  return RECORD_TYPES[type] ?? null;
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

/** Sequence numbers stay below 2^53 so they fit a JS number exactly; no key gets near it. */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;
const KEY_UPDATE_LABEL = Buffer.from('netcrypt/1 key update');

/** Writes or XORs the 64-bit big-endian sequence number at `offset`, byte by byte (cheaper than writeUInt32BE's checks, per record). */
export function writeSequence(target: Buffer, offset: number, sequence: number): void {
  const high = Math.floor(sequence / 2 ** 32);
  const low = sequence >>> 0;
  target[offset] = high >>> 24;
  target[offset + 1] = high >>> 16;
  target[offset + 2] = high >>> 8;
  target[offset + 3] = high;
  target[offset + 4] = low >>> 24;
  target[offset + 5] = low >>> 16;
  target[offset + 6] = low >>> 8;
  target[offset + 7] = low;
}

/** XORs the same bytes in: the nonce of RFC 8446 §5.3 when `target` holds the IV and `offset` is 4. */
export function xorSequence(target: Buffer, offset: number, sequence: number): void {
  const high = Math.floor(sequence / 2 ** 32);
  const low = sequence >>> 0;
  target[offset] = target[offset]! ^ (high >>> 24);
  target[offset + 1] = target[offset + 1]! ^ (high >>> 16);
  target[offset + 2] = target[offset + 2]! ^ (high >>> 8);
  target[offset + 3] = target[offset + 3]! ^ high;
  target[offset + 4] = target[offset + 4]! ^ (low >>> 24);
  target[offset + 5] = target[offset + 5]! ^ (low >>> 16);
  target[offset + 6] = target[offset + 6]! ^ (low >>> 8);
  target[offset + 7] = target[offset + 7]! ^ low;
}

/**
 * HKDF-Expand-SHA-256 (RFC 5869 §2.3) with the current key material as the
 * PRK: node:crypto offers only extract-then-expand, and the ratchet must not
 * extract again. `length` is at most 64 here, so two blocks at most.
 */
export function hkdfExpandSha256(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) throw invalidArgument('HKDF-Expand length out of range');
  const blocks: Buffer[] = [];
  for (let block = 0; block * 32 < length; block++) {
    blocks.push(createHmac('sha256', prk).update(blocks.at(-1) ?? Buffer.alloc(0)).update(info).update(Uint8Array.of(block + 1)).digest());
  }
  const joined = Buffer.concat(blocks);
  const out = Buffer.from(joined.subarray(0, length));
  for (const block of [joined, ...blocks]) block.fill(0);
  return out;
}

/** One direction's key state: the suite, its key material, the sequence under it. Shared by sealer and opener. */
class DirectionKey {
  sequence = 0;
  /** Plaintext bytes sealed under the current key, for the sender's update policy. */
  bytes = 0;
  #material: Buffer;
  #key: Buffer;
  #iv: Buffer;

  constructor(
    readonly suite: Suite,
    material: Uint8Array,
  ) {
    if (material.length !== suite.keyMaterialBytes) throw invalidArgument(`${suite.name} key material must be ${suite.keyMaterialBytes} bytes`);
    this.#material = Buffer.from(material);
    [this.#key, this.#iv] = this.#split();
  }

  get key(): Buffer {
    return this.#key;
  }

  /** The GCM nonce of the current sequence number (RFC 8446 §5.3: IV XOR sequence) into `target` (12 bytes), reused per record. */
  writeNonce(target: Buffer): Buffer {
    target.set(this.#iv);
    xorSequence(target, 4, this.sequence);
    return target;
  }

  /** next = HKDF-Expand(current, "netcrypt/1 key update", length); the old material is wiped. */
  ratchet(): void {
    const next = hkdfExpandSha256(this.#material, KEY_UPDATE_LABEL, this.#material.length);
    this.#material.fill(0);
    this.#material = Buffer.from(next);
    next.fill(0);
    [this.#key, this.#iv] = this.#split();
    this.sequence = 0;
    this.bytes = 0;
  }

  #split(): [Buffer, Buffer] {
    if (this.suite.name === 'a256cbc-hs512') return [this.#material, Buffer.alloc(0)];
    return [this.#material.subarray(0, GCM_KEY_BYTES), this.#material.subarray(GCM_KEY_BYTES)];
  }
}

/** Seals outgoing records for one direction. */
export class RecordSealer {
  readonly #state: DirectionKey;
  /** Undefined when the peer did not offer key updates: this side then never sends one. */
  readonly #policy?: KeyUpdatePolicy;
  /**
   * The AAD and the GCM nonce of the record being sealed, rewritten for each
   * one: every backend consumes them before its seal returns (node:crypto
   * copies both into its context), so they need not be fresh buffers.
   */
  readonly #aad = Buffer.alloc(9);
  readonly #nonce = Buffer.alloc(GCM_NONCE_BYTES);

  constructor(
    private readonly backend: Backend,
    suite: Suite,
    keyMaterial: Uint8Array,
    private readonly random: RandomSource,
    policy?: KeyUpdatePolicy,
  ) {
    this.#state = new DirectionKey(suite, keyMaterial);
    this.#policy = policy;
  }

  get suite(): Suite {
    return this.#state.suite;
  }

  get keyUpdates(): boolean {
    return this.#policy !== undefined;
  }

  /**
   * Returns the whole frame as buffers — the head (length, type, and for
   * CBC the IV), then the sealed body in the backend's pieces — for the
   * socket to write without concatenating. When the key has done its share
   * (the update policy) a KEY_UPDATE frame goes first.
   */
  seal(type: number, plaintext: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    this.sealInto(type, plaintext, frames);
    return frames;
  }

  /** seal(), its buffers appended to `out`; returns how many bytes it appended. */
  sealInto(type: number, plaintext: Uint8Array, out: Uint8Array[]): number {
    if (plaintext.length > MAX_RECORD_PLAINTEXT) throw invalidArgument('record plaintext too large');
    const policy = this.#policy;
    const state = this.#state;
    if (policy && type !== RecordType.FINISHED && (state.sequence >= policy.records || state.bytes >= policy.bytes)) {
      return this.updateKeyInto(out) + this.#seal(type, plaintext, out);
    }
    return this.#seal(type, plaintext, out);
  }

  /** A KEY_UPDATE record under the current key; every record after it is under the next key, from sequence 0. */
  updateKey(): Uint8Array[] {
    const frames: Uint8Array[] = [];
    this.updateKeyInto(frames);
    return frames;
  }

  /** updateKey(), its buffers appended to `out`; returns how many bytes it appended. */
  updateKeyInto(out: Uint8Array[]): number {
    if (!this.#policy) throw new NetcryptError(ErrorCode.PROTOCOL, 'the peer does not support key updates');
    const bytes = this.#seal(RecordType.KEY_UPDATE, new Uint8Array(0), out);
    this.#state.ratchet();
    return bytes;
  }

  #seal(type: number, plaintext: Uint8Array, out: Uint8Array[]): number {
    const state = this.#state;
    if (state.sequence >= MAX_SEQUENCE) throw new NetcryptError(ErrorCode.PROTOCOL, 'sequence numbers exhausted');
    const aad = this.#aad;
    writeSequence(aad, 0, state.sequence);
    aad[8] = type;
    let head: Buffer;
    let sealed: Uint8Array[];
    if (state.suite.name === 'a256gcm') {
      sealed = this.backend.gcmSealPieces(state.key, state.writeNonce(this.#nonce), aad, plaintext);
      head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + GCM_HEADER_BYTES);
    } else {
      const iv = this.random(IV_BYTES);
      sealed = this.backend.sealPieces(state.key, iv, aad, plaintext);
      head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + CBC_HEADER_BYTES);
      head.set(iv, FRAME_HEADER_BYTES + 1);
    }
    state.sequence++;
    state.bytes += plaintext.length;
    out.push(head);
    let length = head.length;
    for (const piece of sealed) {
      out.push(piece);
      length += piece.length;
    }
    head.writeUInt32BE(length - FRAME_HEADER_BYTES, 0);
    head[FRAME_HEADER_BYTES] = type;
    return length;
  }
}

/** Opens incoming records for one direction, in order. */
export class RecordOpener {
  readonly #state: DirectionKey;
  readonly #keyUpdates: boolean;
  readonly #aad = Buffer.alloc(9);
  readonly #nonce = Buffer.alloc(GCM_NONCE_BYTES);

  /** `keyUpdates`: both hellos listed key-update, so a KEY_UPDATE record is allowed. */
  constructor(
    private readonly backend: Backend,
    suite: Suite,
    keyMaterial: Uint8Array,
    keyUpdates: boolean,
  ) {
    this.#state = new DirectionKey(suite, keyMaterial);
    this.#keyUpdates = keyUpdates;
  }

  get suite(): Suite {
    return this.#state.suite;
  }

  /**
   * Opens one frame payload. Any failure to authenticate is ERR_AUTH, and
   * the stream is unusable afterwards. The CBC frame limit lets through up
   * to 15 bytes of padding room beyond MAX_RECORD_PLAINTEXT; an authentic
   * record that uses it broke the protocol (ERR_PROTOCOL). An authentic
   * KEY_UPDATE switches to the next key before it is returned.
   */
  open(payload: Uint8Array): { type: number; plaintext: Uint8Array } {
    const { type, plaintext } = this.openPieces([payload]);
    return { type, plaintext: plaintext.length === 1 ? plaintext[0]! : Buffer.concat(plaintext) };
  }

  /**
   * open() of a frame payload as it arrived, in consecutive pieces: an
   * a256gcm record is opened without joining them (where the backend can),
   * and its plaintext comes back in pieces too.
   */
  openPieces(payload: readonly Uint8Array[]): { type: number; plaintext: Uint8Array[] } {
    const state = this.#state;
    let length = 0;
    let type = -1;
    for (const piece of payload) {
      if (type < 0 && piece.length > 0) type = piece[0]!;
      length += piece.length;
    }
    if (type < 0) throw authError();
    // Scratch, rewritten per record: every backend consumes the AAD and nonce before it returns.
    const aad = this.#aad;
    writeSequence(aad, 0, state.sequence);
    aad[8] = type;
    let plaintext: Uint8Array[];
    if (state.suite.name === 'a256gcm') {
      if (length < GCM_HEADER_BYTES + GCM_TAG_BYTES) throw authError();
      plaintext = this.backend.gcmOpenPieces(state.key, state.writeNonce(this.#nonce), aad, withoutHeader(payload, GCM_HEADER_BYTES));
    } else {
      if (length < CBC_HEADER_BYTES + BLOCK_BYTES + TAG_BYTES) throw authError();
      const whole = payload.length === 1 ? payload[0]! : Buffer.concat(payload);
      plaintext = [this.backend.open(state.key, whole.subarray(1, CBC_HEADER_BYTES), aad, whole.subarray(CBC_HEADER_BYTES))];
    }
    state.sequence++;
    let plaintextLength = 0;
    for (const piece of plaintext) plaintextLength += piece.length;
    if (plaintextLength > MAX_RECORD_PLAINTEXT) {
      throw new NetcryptError(ErrorCode.PROTOCOL, `record of ${plaintextLength} plaintext bytes; the limit is ${MAX_RECORD_PLAINTEXT}`);
    }
    if (type === RecordType.KEY_UPDATE) {
      if (!this.#keyUpdates) throw new NetcryptError(ErrorCode.PROTOCOL, 'KEY_UPDATE record, but key updates were not negotiated');
      if (plaintextLength !== 0) throw new NetcryptError(ErrorCode.PROTOCOL, 'KEY_UPDATE record with content');
      state.ratchet();
    }
    return { type, plaintext };
  }
}

/** The pieces after the first `bytes` bytes, as views. */
function withoutHeader(pieces: readonly Uint8Array[], bytes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const piece of pieces) {
    if (bytes >= piece.length) {
      bytes -= piece.length;
      continue;
    }
    out.push(bytes > 0 ? piece.subarray(bytes) : piece);
    bytes = 0;
  }
  return out;
}
