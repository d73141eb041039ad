/**
 * Two connected in-memory Duplex ends, for channels without a network (tests,
 * workers, one process talking to itself). What one end writes the other
 * reads. Like TCP, and unlike an unbounded buffer, it pushes back: a write's
 * callback runs only once the other end's reader wants more (its buffer is
 * below its highWaterMark), so a writer whose reader stopped sees write()
 * return false once its own buffer is full.
 *
 * end() on one end is the other end's end-of-stream (half-close: the other
 * may still write back). destroy() on one end ends the other's readable
 * after what it has already received, and makes its writes fail with EPIPE,
 * as a TCP peer's close does. Node 20 has no `stream.duplexPair` (22.6 does).
 */

import { Duplex } from 'node:stream';
import { invalidArgument } from '../errors.ts';

export interface DuplexPairOptions {
  /** Bytes each end buffers for its reader, and for its writer, before pushing back (default 16 KiB). */
  highWaterMark?: number;
}

type WriteCallback = (error?: Error | null) => void;

function brokenPipe(): Error {
  return Object.assign(new Error('the other end of the duplex pair is destroyed'), { code: 'EPIPE' });
}

class PairEnd extends Duplex {
  #other!: PairEnd;
  /** The other end's write, held until this end's reader asks for more. */
  #heldWrite?: WriteCallback;

  static connect(options: DuplexPairOptions): [PairEnd, PairEnd] {
    const { highWaterMark } = options;
    const left = new PairEnd({ highWaterMark });
    const right = new PairEnd({ highWaterMark });
    left.#other = right;
    right.#other = left;
    return [left, right];
  }

  override _read(): void {
    const release = this.#heldWrite;
    this.#heldWrite = undefined;
    release?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.#deliver([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: WriteCallback): void {
    this.#deliver(
      chunks.map(({ chunk }) => chunk),
      callback,
    );
  }

  #deliver(chunks: Buffer[], callback: WriteCallback): void {
    const other = this.#other;
    if (other.destroyed) return callback(brokenPipe());
    // A zero-length write carries nothing, and everything before it has already been taken.
    if (chunks.every((chunk) => chunk.length === 0)) return process.nextTick(callback);
    other.#heldWrite = callback;
    for (const chunk of chunks) if (chunk.length > 0) other.#arrive(chunk);
  }

  /**
   * Bytes and the end of stream reach the reader on a later tick, in order, as on
   * any real transport: a reader's 'data' handler must never run inside its
   * peer's write() (a channel's handshake would see its peer's next flight early).
   */
  #arrive(chunk: Buffer | null): void {
    process.nextTick(() => {
      if (!this.destroyed) this.push(chunk);
    });
  }

  override _final(callback: WriteCallback): void {
    this.#other.#arrive(null);
    callback();
  }

  override _destroy(error: Error | null, callback: WriteCallback): void {
    const other = this.#other;
    // Like a TCP peer closing: the other end reads to the end of what it got, and may write no more.
    other.#arrive(null);
    // Neither end's write in progress may hang: the other's fails, and so does this end's own.
    for (const end of [this, other]) {
      const held = end.#heldWrite;
      end.#heldWrite = undefined;
      held?.(brokenPipe());
    }
    callback(error);
  }
}

/** Two connected in-memory byte streams (see the module comment for their semantics). */
export function duplexPair(options: DuplexPairOptions = {}): [Duplex, Duplex] {
  const { highWaterMark } = options;
  if (highWaterMark !== undefined && (!Number.isInteger(highWaterMark) || highWaterMark < 1)) {
    throw invalidArgument('highWaterMark must be a positive integer');
  }
  return PairEnd.connect(options);
}
