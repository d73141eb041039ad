/**
 * Messages on top of records, both directions, sans-I/O.
 *
 * Each message has exactly one encoding (docs/PROTOCOL.md §3): one of at
 * most 16 KiB travels as an entry of a BATCH record (with the other small
 * messages of the same tick, each behind a 4-byte big-endian length, so a
 * burst of small sends costs one seal); a larger one as FRAGMENT records of
 * exactly 64 KiB and a FINAL record of 1 to 64 KiB. The assembler rebuilds
 * messages per lane, refuses any other encoding, and enforces the receiver's
 * size limit before buffering anything more.
 */

import { ErrorCode, NetcryptError } from '../errors.ts';
import { LANE_COUNT, MAX_RECORD_PLAINTEXT, type ParsedRecordType } from './records.ts';

/** Messages up to this size may be batched; larger ones go in their own records. */
export const BATCH_ITEM_MAX = 16 * 1024;
const LENGTH_BYTES = 4;

/** Collects small messages for one lane into one record's plaintext. */
export class MessageBatch {
  readonly lane: number;
  readonly #buffer = Buffer.allocUnsafe(MAX_RECORD_PLAINTEXT);
  #length = 0;

  constructor(lane: number) {
    this.lane = lane;
  }

  /** Copies `message` in (the caller may reuse its buffer at once); false if it does not fit. */
  add(message: Uint8Array): boolean {
    if (this.#length + LENGTH_BYTES + message.length > this.#buffer.length) return false;
    this.#buffer.writeUInt32BE(message.length, this.#length);
    this.#buffer.set(message, this.#length + LENGTH_BYTES);
    this.#length += LENGTH_BYTES + message.length;
    return true;
  }

  get plaintext(): Buffer {
    return this.#buffer.subarray(0, this.#length);
  }
}

function protocolError(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, message);
}

function tooLarge(lane: number, limit: number): NetcryptError {
  return new NetcryptError(ErrorCode.FRAME_TOO_LARGE, `peer's message on lane ${lane} exceeds its limit of ${limit} bytes`);
}

/** Rebuilds messages from opened records, per lane, within `maxMessageBytes`. */
export class MessageAssembler {
  readonly #maxMessageBytes: number;
  /** Per lane, the largest message accepted: maxMessageBytes unless the lane's layer set its own. */
  readonly #laneLimits: number[];
  readonly #parts: Buffer[][] = Array.from({ length: LANE_COUNT }, () => []);
  readonly #bytes: number[] = new Array(LANE_COUNT).fill(0);
  /** Bytes held across all lanes: one budget per connection, not one per lane. */
  #heldBytes = 0;
  /** The most held across all lanes: the largest of the lanes' limits. */
  #heldLimit: number;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
    this.#laneLimits = new Array(LANE_COUNT).fill(maxMessageBytes);
    this.#heldLimit = maxMessageBytes;
  }

  /**
   * Gives one lane its own limit in place of maxMessageBytes, above or
   * below it: a layer whose spec fixes its messages' size (requests, file
   * control) must accept what any peer may send, whatever this side's limit
   * for application messages. A longer one fails while it is still arriving.
   */
  limitLane(lane: number, maxMessageBytes: number): void {
    this.#laneLimits[lane] = maxMessageBytes;
    this.#heldLimit = Math.max(this.#maxMessageBytes, ...this.#laneLimits);
  }

  laneLimit(lane: number): number {
    return this.#laneLimits[lane]!;
  }

  /** Bytes of unfinished messages held, all lanes together. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Returns the messages this record completes, in order. The plaintext may
   * come in pieces (as the opener decrypted it); a message is copied
   * together only when it is in more than one.
   */
  push(record: ParsedRecordType & { kind: 'fragment' | 'batch' }, plaintext: Buffer | readonly Buffer[]): Buffer[] {
    const { lane } = record;
    const pieces = Buffer.isBuffer(plaintext) ? [plaintext] : plaintext;
    if (record.kind === 'batch') return this.#unbatch(lane, pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
    return this.#fragment(lane, record.final, pieces);
  }

  #fragment(lane: number, final: boolean, pieces: readonly Buffer[]): Buffer[] {
    let length = 0;
    for (const piece of pieces) length += piece.length;
    if (final ? length === 0 : length !== MAX_RECORD_PLAINTEXT) {
      throw protocolError(`${final ? 'final' : 'non-final'} fragment of ${length} bytes`);
    }
    const size = this.#bytes[lane]! + length;
    if (final && size <= BATCH_ITEM_MAX) throw protocolError(`a message of ${size} bytes must travel in a BATCH record, not as fragments`);
    if (size > this.#laneLimits[lane]!) throw tooLarge(lane, this.#laneLimits[lane]!);
    if (this.#heldBytes + length > this.#heldLimit) {
      throw new NetcryptError(ErrorCode.FRAME_TOO_LARGE, `peer's messages in progress exceed ${this.#heldLimit} bytes`);
    }
    const parts = this.#parts[lane]!;
    for (const piece of pieces) if (piece.length > 0) parts.push(piece);
    this.#bytes[lane] = size;
    this.#heldBytes += length;
    if (!final) return [];
    this.#parts[lane] = [];
    this.#bytes[lane] = 0;
    this.#heldBytes -= size;
    return [parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)];
  }

  #unbatch(lane: number, plaintext: Buffer): Buffer[] {
    if (this.#bytes[lane] !== 0 || this.#parts[lane]!.length !== 0) throw protocolError('batch inside a fragmented message');
    const messages: Buffer[] = [];
    let offset = 0;
    while (offset < plaintext.length) {
      if (plaintext.length - offset < LENGTH_BYTES) throw protocolError('truncated batch entry');
      const length = plaintext.readUInt32BE(offset);
      offset += LENGTH_BYTES;
      if (length > plaintext.length - offset) throw protocolError('batch entry longer than its record');
      if (length > BATCH_ITEM_MAX) throw protocolError(`batch entry of ${length} bytes; larger than ${BATCH_ITEM_MAX} must be fragmented`);
      if (length > this.#laneLimits[lane]!) throw tooLarge(lane, this.#laneLimits[lane]!);
      messages.push(plaintext.subarray(offset, offset + length));
      offset += length;
    }
    if (messages.length === 0) throw protocolError('empty batch');
    return messages;
  }
}
