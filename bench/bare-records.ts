/**
 * The bare framing loop that bench:channel holds netcrypt to: records of
 * either suite written straight on node:crypto, with netcrypt's frame layout
 * and none of the library — what a lean record path could at best cost.
 *
 *   frame      length (4, big-endian) ‖ payload
 *   a256gcm    payload = type (1) ‖ ciphertext ‖ tag (16), nonce = IV XOR (0⁴ ‖ sequence)
 *   a256cbc-hs512  payload = type (1) ‖ IV (16) ‖ ciphertext ‖ tag (32)
 *   both       AAD = sequence (8, big-endian) ‖ type
 *
 * The sender hands each frame over as pieces (head, ciphertext, tag) for a
 * corked socket; the receiver feeds each piece of a record to the decipher
 * (and for CBC-HS512 the HMAC) as it arrives, never concatenating, and
 * delivers a record's plaintext only after its tag verified.
 */

import { type Cipher, type CipherGCM, createCipheriv, createDecipheriv, createHmac, type Decipher, type DecipherGCM, type Hmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

export type BareSuite = 'a256gcm' | 'a256cbc-hs512';

/** Plaintext bytes per record, netcrypt's 64 KiB unless BARE_RECORD says otherwise (both processes read it). */
export const BARE_RECORD_BYTES = Number(process.env.BARE_RECORD ?? 65536);

/** A record's type byte: the application lane's FINAL record, as netcrypt's bulk records are. */
const TYPE = 0x11;
const FRAME_HEADER = 4;

interface Layout {
  /** Key material: GCM key ‖ IV; CBC-HS512 MAC key ‖ AES key. */
  materialBytes: number;
  /** Bytes after the length that precede the ciphertext: the type, and for CBC the IV. */
  headBytes: number;
  tagBytes: number;
}

const LAYOUTS: Record<BareSuite, Layout> = {
  a256gcm: { materialBytes: 32 + 12, headBytes: 1, tagBytes: 16 },
  'a256cbc-hs512': { materialBytes: 64, headBytes: 1 + 16, tagBytes: 32 },
};

export function bareKeyMaterial(suite: BareSuite): Buffer {
  return randomBytes(LAYOUTS[suite].materialBytes);
}

function additionalData(sequence: number): Buffer {
  const aad = Buffer.allocUnsafe(9);
  aad.writeBigUInt64BE(BigInt(sequence), 0);
  aad[8] = TYPE;
  return aad;
}

function gcmNonce(iv: Buffer, sequence: number): Buffer {
  const nonce = Buffer.from(iv);
  const low = nonce.readUInt32BE(8) ^ sequence % 2 ** 32;
  const high = nonce.readUInt32BE(4) ^ Math.floor(sequence / 2 ** 32);
  nonce.writeUInt32BE(high >>> 0, 4);
  nonce.writeUInt32BE(low >>> 0, 8);
  return nonce;
}

/** CBC-HS512's AL: the AAD's length in bits, 64-bit big-endian. */
const AL = Buffer.from([0, 0, 0, 0, 0, 0, 0, 9 * 8]);

export class BareSender {
  readonly #layout: Layout;
  #sequence = 0;
  /** CBC IVs come from a pool refilled in one call, as a real sender would batch its randomness. */
  readonly #ivPool = Buffer.allocUnsafe(16 * 1024);
  #ivOffset = this.#ivPool.length;

  constructor(
    readonly suite: BareSuite,
    private readonly material: Buffer,
  ) {
    this.#layout = LAYOUTS[suite];
  }

  /** One record's frame, as pieces to write in order. */
  seal(plaintext: Buffer): Buffer[] {
    const aad = additionalData(this.#sequence);
    const head = Buffer.allocUnsafe(FRAME_HEADER + this.#layout.headBytes);
    let cipher: Cipher;
    let gcm: CipherGCM | undefined;
    let hmac: Hmac | undefined;
    if (this.suite === 'a256gcm') {
      cipher = gcm = createCipheriv('aes-256-gcm', this.material.subarray(0, 32), gcmNonce(this.material.subarray(32), this.#sequence)).setAAD(aad);
    } else {
      if (this.#ivOffset === this.#ivPool.length) {
        randomFillSync(this.#ivPool);
        this.#ivOffset = 0;
      }
      const iv = this.#ivPool.subarray(this.#ivOffset, (this.#ivOffset += 16));
      head.set(iv, FRAME_HEADER + 1);
      cipher = createCipheriv('aes-256-cbc', this.material.subarray(32), iv);
      hmac = createHmac('sha512', this.material.subarray(0, 32)).update(aad).update(iv);
    }
    const body = cipher.update(plaintext);
    const last = cipher.final();
    const tag = gcm ? gcm.getAuthTag() : hmac!.update(body).update(last).update(AL).digest().subarray(0, 32);
    head.writeUInt32BE(this.#layout.headBytes + body.length + last.length + tag.length, 0);
    head[FRAME_HEADER] = TYPE;
    this.#sequence++;
    return last.length > 0 ? [head, body, last, tag] : [head, body, tag];
  }
}

type Phase = 'head' | 'body' | 'tag';

/** Parses frames from a byte stream, in whatever pieces they arrive. Throws on any authentication failure. */
export class BareReceiver {
  readonly #layout: Layout;
  readonly #maxPayload: number;
  #sequence = 0;
  #phase: Phase = 'head';
  readonly #head: Buffer;
  readonly #tag: Buffer;
  /** Bytes of the current phase's fixed-size buffer filled so far, or the ciphertext bytes still to come. */
  #filled = 0;
  #remaining = 0;
  #decipher: Decipher | undefined;
  #gcm: DecipherGCM | undefined;
  #hmac: Hmac | undefined;
  /** The current record's plaintext, held until its tag verifies. */
  #pending: Buffer[] = [];

  constructor(
    readonly suite: BareSuite,
    private readonly material: Buffer,
    maxRecordPlaintext: number,
    private readonly deliver: (pieces: readonly Buffer[]) => void,
  ) {
    this.#layout = LAYOUTS[suite];
    this.#maxPayload = this.#layout.headBytes + maxRecordPlaintext + 16 + this.#layout.tagBytes;
    this.#head = Buffer.alloc(FRAME_HEADER + this.#layout.headBytes);
    this.#tag = Buffer.alloc(this.#layout.tagBytes);
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#phase === 'head') {
        offset = this.#fill(this.#head, chunk, offset);
        if (this.#filled === this.#head.length) this.#begin();
      } else if (this.#phase === 'body') {
        const take = Math.min(this.#remaining, chunk.length - offset);
        const piece = chunk.subarray(offset, offset + take);
        this.#hmac?.update(piece);
        const plain = this.#decipher!.update(piece);
        if (plain.length > 0) this.#pending.push(plain);
        offset += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#phase = 'tag';
      } else {
        offset = this.#fill(this.#tag, chunk, offset);
        if (this.#filled === this.#tag.length) this.#end();
      }
    }
  }

  #fill(target: Buffer, chunk: Buffer, offset: number): number {
    const take = Math.min(target.length - this.#filled, chunk.length - offset);
    chunk.copy(target, this.#filled, offset, offset + take);
    this.#filled += take;
    return offset + take;
  }

  #begin(): void {
    const length = this.#head.readUInt32BE(0);
    const minimum = this.#layout.headBytes + this.#layout.tagBytes;
    if (length > this.#maxPayload || length < minimum || this.#head[FRAME_HEADER] !== TYPE) throw new Error('bare receiver: bad frame');
    const aad = additionalData(this.#sequence);
    if (this.suite === 'a256gcm') {
      this.#decipher = this.#gcm = createDecipheriv('aes-256-gcm', this.material.subarray(0, 32), gcmNonce(this.material.subarray(32), this.#sequence)).setAAD(aad);
    } else {
      const iv = this.#head.subarray(FRAME_HEADER + 1);
      this.#hmac = createHmac('sha512', this.material.subarray(0, 32)).update(aad).update(iv);
      this.#decipher = createDecipheriv('aes-256-cbc', this.material.subarray(32), iv);
    }
    this.#remaining = length - minimum;
    this.#filled = 0;
    this.#phase = this.#remaining > 0 ? 'body' : 'tag';
  }

  #end(): void {
    const decipher = this.#decipher!;
    if (this.#hmac) {
      // Encrypt-then-MAC: the plaintext decrypted so far stays held, and CBC's padding is checked only once the MAC verified.
      const expected = this.#hmac.update(AL).digest().subarray(0, 32);
      if (!timingSafeEqual(expected, this.#tag)) throw new Error('bare receiver: tag mismatch');
    } else {
      this.#gcm!.setAuthTag(this.#tag);
    }
    const last = decipher.final();
    if (last.length > 0) this.#pending.push(last);
    this.deliver(this.#pending);
    this.#pending = [];
    this.#decipher = this.#gcm = this.#hmac = undefined;
    this.#sequence++;
    this.#filled = 0;
    this.#phase = 'head';
  }
}
