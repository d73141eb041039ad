/**
 * The send half of messages on records, sans-I/O: the mirror of
 * MessageAssembler. It owns the one encoding each message has
 * (docs/PROTOCOL.md §3) — a message of at most 16 KiB is an entry of a
 * BATCH record, a larger one FRAGMENT records of exactly 64 KiB and a FINAL
 * record — and the sealing order: sealing assigns the sequence number, so
 * every record (a control record too) is sealed after the batch opened
 * before it. What it seals waits in its output, in write order, until the
 * caller takes it; it never touches a socket (ws's lib/sender.js is the
 * model: pure framing, one write path).
 */

import { BATCH_ITEM_MAX, MessageBatch } from './messages.ts';
import { MAX_RECORD_PLAINTEXT, type RecordSealer, RecordType, batchRecordType, laneRecordType } from './records.ts';

export class RecordWriter {
  readonly #sealer: RecordSealer;
  /** Small messages of this tick, sealed as one record when the caller says (sealBatch) or a later record must follow them. */
  #batch?: MessageBatch;
  #batchedBytes = 0;
  #output: Uint8Array[] = [];
  #outputBytes = 0;

  constructor(sealer: RecordSealer) {
    this.#sealer = sealer;
  }

  /** Message bytes in the open batch, not sealed yet. */
  get batchedBytes(): number {
    return this.#batchedBytes;
  }

  get batchOpen(): boolean {
    return this.#batch !== undefined;
  }

  /** Bytes sealed and not yet taken. */
  get outputBytes(): number {
    return this.#outputBytes;
  }

  /**
   * Adds a message of at most BATCH_ITEM_MAX bytes to the open batch, or
   * opens one. The bytes are copied: the caller may reuse its buffer. False
   * (and nothing added) when the open batch is for another lane or full:
   * seal it, then add again.
   */
  addToBatch(lane: number, message: Uint8Array): boolean {
    if (message.length > BATCH_ITEM_MAX) throw new RangeError('message too large for a batch');
    this.#batch ??= new MessageBatch(lane);
    if (this.#batch.lane !== lane || !this.#batch.add(message)) return false;
    this.#batchedBytes += message.length;
    return true;
  }

  /** Seals the open batch, if any, into the output; returns its message bytes. */
  sealBatch(): number {
    const batch = this.#batch;
    if (!batch) return 0;
    const bytes = this.#batchedBytes;
    this.#batch = undefined;
    this.#batchedBytes = 0;
    this.#outputBytes += this.#sealer.sealInto(batchRecordType(batch.lane), batch.plaintext, this.#output);
    return bytes;
  }

  /**
   * Seals the records of a message larger than BATCH_ITEM_MAX from
   * `offset` (a multiple of 64 KiB), at least one, and more while the output
   * holds fewer than `room` bytes. Returns the offset reached: the
   * message's length once its FINAL record is sealed.
   */
  sealFragments(lane: number, message: Uint8Array, offset: number, room: number): number {
    if (message.length <= BATCH_ITEM_MAX) throw new RangeError('a message this small travels in a batch');
    this.sealBatch();
    do {
      const end = Math.min(offset + MAX_RECORD_PLAINTEXT, message.length);
      this.#outputBytes += this.#sealer.sealInto(laneRecordType(lane, end === message.length), message.subarray(offset, end), this.#output);
      offset = end;
    } while (offset < message.length && this.#outputBytes < room);
    return offset;
  }

  /** The authenticated close, after everything before it. */
  sealClose(): void {
    this.sealBatch();
    this.#outputBytes += this.#sealer.sealInto(RecordType.CLOSE, new Uint8Array(0), this.#output);
  }

  /** A KEY_UPDATE now (ERR_PROTOCOL if the peer did not offer them), after everything before it. */
  sealKeyUpdate(): void {
    this.sealBatch();
    this.#outputBytes += this.#sealer.updateKeyInto(this.#output);
  }

  /** A PING with these (PING_BYTES) bytes, after everything before it (docs/PROTOCOL.md §3, *Ping*). */
  sealPing(value: Uint8Array): void {
    this.sealBatch();
    this.#outputBytes += this.#sealer.sealInto(RecordType.PING, value, this.#output);
  }

  /** The PONG answering a PING: its bytes, after everything before it. */
  sealPong(value: Uint8Array): void {
    this.sealBatch();
    this.#outputBytes += this.#sealer.sealInto(RecordType.PONG, value, this.#output);
  }

  /** Drops the open batch unsealed: the channel failed, and its messages are reported as not sent. */
  discardBatch(): void {
    this.#batch = undefined;
    this.#batchedBytes = 0;
  }

  /** The sealed buffers in write order; the output is empty afterwards. */
  take(): Uint8Array[] {
    const output = this.#output;
    this.#output = [];
    this.#outputBytes = 0;
    return output;
  }
}
