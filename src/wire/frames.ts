/**
 * Framing: every netcrypt/1 message travels as a 4-byte big-endian length
 * followed by that many bytes. The decoder is an explicit two-state machine
 * (header, body) that checks the announced length against its maximum as
 * soon as the four header bytes are in — before any buffer is allocated —
 * so a 0xFFFFFFFF prefix costs the receiver nothing. Small chunks are
 * copied together rather than kept one object each, so what it holds is the
 * bytes it counts, however a peer splits them.
 */

import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';

export const FRAME_HEADER_BYTES = 4;
/** The format cannot express more than this. */
export const FRAME_LENGTH_LIMIT = 0xffffffff;

export function frameHeader(length: number): Buffer {
  if (!Number.isInteger(length) || length < 0 || length > FRAME_LENGTH_LIMIT) throw invalidArgument('frame length out of range');
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(length, 0);
  return header;
}

export function encodeFrame(payload: Uint8Array): Buffer {
  return Buffer.concat([frameHeader(payload.length), payload]);
}

/**
 * A chunk shorter than this is copied into a shared buffer of
 * COALESCE_BUFFER_BYTES: kept as is, each costs a Buffer object (a few
 * hundred bytes of heap) that no byte count sees, so a peer dripping a 64 KiB
 * frame a byte per TCP segment would make it hold ~15 MB.
 */
const COALESCE_BELOW = 512;
const COALESCE_BUFFER_BYTES = 8192;

export class FrameDecoder {
  #state: 'header' | 'body' = 'header';
  /** Bytes received but not yet part of a returned frame. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Where small chunks are copied; its bytes from #coalescedEnd on are free. */
  #coalesce?: Buffer;
  #coalescedEnd = 0;
  #bodyLength = 0;
  #maxFrameBytes: number;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = checkMax(maxFrameBytes);
  }

  /** The limit applies from the next header on; the handshake raises it once records start. */
  set maxFrameBytes(value: number) {
    this.#maxFrameBytes = checkMax(value);
  }

  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  /** Bytes buffered towards an incomplete frame (0 at a frame boundary). */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }

  /** Buffers bytes from the socket; call next() to take the frames they complete. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#pendingBytes += chunk.length;
    if (chunk.length >= COALESCE_BELOW) {
      this.#pending.push(chunk);
      return;
    }
    let buffer = this.#coalesce;
    if (!buffer || this.#coalescedEnd + chunk.length > buffer.length) {
      // Our own memory, not the shared pool: only its free part is ever written, so views handed out stay valid.
      buffer = this.#coalesce = Buffer.allocUnsafeSlow(COALESCE_BUFFER_BYTES);
      this.#coalescedEnd = 0;
    }
    const start = this.#coalescedEnd;
    chunk.copy(buffer, start);
    this.#coalescedEnd += chunk.length;
    const last = this.#pending.length - 1;
    const tail = this.#pending[last];
    // Right after the last piece in the same buffer: that piece grows instead of a new one being added.
    if (tail && tail.buffer === buffer.buffer && tail.byteOffset + tail.length === buffer.byteOffset + start) {
      this.#pending[last] = Buffer.from(buffer.buffer, tail.byteOffset, tail.length + chunk.length);
    } else {
      this.#pending.push(buffer.subarray(start, start + chunk.length));
    }
  }

  /**
   * The next complete frame, or undefined until more bytes arrive. One at a
   * time, so a caller can change the limit between frames (the handshake
   * raises it once records start). Throws ERR_FRAME_TOO_LARGE on an oversize header.
   */
  next(): Buffer | undefined {
    if (this.#state === 'header') {
      if (this.#pendingBytes < FRAME_HEADER_BYTES) return undefined;
      this.#startBody(this.#take(FRAME_HEADER_BYTES).readUInt32BE(0));
    }
    if (this.#pendingBytes < this.#bodyLength) return undefined;
    this.#state = 'header';
    return this.#take(this.#bodyLength);
  }

  /**
   * next() for frames that need not be one buffer: the frame as views of
   * the chunks it arrived in, never copied (a record opener that decrypts
   * piece by piece). Undefined until the frame is complete.
   */
  nextPieces(): Buffer[] | undefined {
    if (this.#state === 'header') {
      if (this.#pendingBytes < FRAME_HEADER_BYTES) return undefined;
      this.#startBody(this.#take(FRAME_HEADER_BYTES).readUInt32BE(0));
    }
    if (this.#pendingBytes < this.#bodyLength) return undefined;
    this.#state = 'header';
    const pieces: Buffer[] = [];
    let n = this.#bodyLength;
    this.#pendingBytes -= n;
    while (n > 0) {
      const chunk = this.#pending[0]!;
      if (chunk.length <= n) {
        pieces.push(chunk);
        this.#pending.shift();
        n -= chunk.length;
      } else {
        pieces.push(chunk.subarray(0, n));
        this.#pending[0] = chunk.subarray(n);
        n = 0;
      }
    }
    return pieces;
  }

  #startBody(length: number): void {
    if (length > this.#maxFrameBytes) {
      throw new NetcryptError(ErrorCode.FRAME_TOO_LARGE, `peer announced a ${length}-byte frame; the limit is ${this.#maxFrameBytes}`);
    }
    this.#bodyLength = length;
    this.#state = 'body';
  }

  /** Removes `n` buffered bytes; a view when they lie in one chunk, one bounded copy otherwise. */
  #take(n: number): Buffer {
    const first = this.#pending[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.#pending.shift();
      else this.#pending[0] = first.subarray(n);
      this.#pendingBytes -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#pending[0]!;
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.#pending.shift();
      else this.#pending[0] = chunk.subarray(used);
    }
    this.#pendingBytes -= n;
    return out;
  }
}

function checkMax(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > FRAME_LENGTH_LIMIT) throw invalidArgument('maxFrameBytes out of range');
  return value;
}
