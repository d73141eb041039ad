/**
 * The WebAssembly backend: the Rust crate in crate/, built to
 * wasm/netcrypt.wasm. The module exports plain C functions over its linear
 * memory; this file copies inputs into one long-lived scratch buffer, calls,
 * and copies results out (the copies cost a few percent; see bench/). The
 * module zeroes its own stack before each export returns; what this file
 * puts in the scratch buffer (keys, plaintext, ciphertext) it zeroes itself,
 * after every call and on every path.
 */

import { readFile } from 'node:fs/promises';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { A256CBC_HS512, paddedLength } from './a256cbc-hs512.ts';
import { A256GCM } from './a256gcm.ts';
import { wrapAead } from './aead.ts';
import { checkEnvelopeFields } from './envelope-codec.ts';
import { type Backend, type Envelope, GCM_TAG_BYTES, TAG_BYTES } from './types.ts';

/** The crate's exports; see crate/README.md for the ABI. */
interface CoreExports {
  memory: WebAssembly.Memory;
  nc_reserve(capacity: number): number;
  nc_seal(keyPtr: number, ivPtr: number, aadPtr: number, aadLen: number, dataPtr: number, dataLen: number): number;
  nc_open(keyPtr: number, ivPtr: number, aadPtr: number, aadLen: number, dataPtr: number, dataLen: number): number;
  nc_envelope_len(wrappedKeyLen: number, ciphertextLen: number): number;
  nc_envelope_encode(wkPtr: number, wkLen: number, ivPtr: number, ctPtr: number, ctLen: number, tagPtr: number, outPtr: number): number;
  nc_envelope_decode(ptr: number, len: number, outPtr: number): number;
  nc_aes256_cbc_encrypt(keyPtr: number, ivPtr: number, dataPtr: number, len: number): number;
  nc_aes256_cbc_decrypt(keyPtr: number, ivPtr: number, dataPtr: number, len: number): number;
  nc_hmac_sha512(keyPtr: number, keyLen: number, msgPtr: number, msgLen: number, outPtr: number): void;
  nc_aes256_ctr32(keyPtr: number, counterPtr: number, dataPtr: number, len: number): void;
  nc_gcm_seal(keyPtr: number, noncePtr: number, aadPtr: number, aadLen: number, dataPtr: number, dataLen: number): number;
  nc_gcm_open(keyPtr: number, noncePtr: number, aadPtr: number, aadLen: number, dataPtr: number, dataLen: number): number;
  nc_ghash(hPtr: number, dataPtr: number, len: number, outPtr: number): void;
}

/** Largest input we place in linear memory at once (wasm32 addresses 4 GiB; leave room). */
const MAX_INPUT_BYTES = 1 << 30;

export const WASM_URL = new URL('../../wasm/netcrypt.wasm', import.meta.url);

/** Lays inputs out back to back in the scratch buffer and hands out their offsets. */
class Scratch {
  private offset = 0;
  readonly base: number;
  readonly bytes: Uint8Array;

  constructor(core: CoreExports, capacity: number) {
    if (capacity > MAX_INPUT_BYTES) throw invalidArgument('input too large for the wasm backend');
    this.base = core.nc_reserve(capacity);
    if (this.base === 0) throw new NetcryptError(ErrorCode.BACKEND_UNAVAILABLE, 'wasm memory could not grow');
    // Views are taken after nc_reserve: growing memory detaches older ones.
    this.bytes = new Uint8Array(core.memory.buffer);
  }

  /** Copies `data` in and returns its address; `room` extra bytes follow it. */
  put(data: Uint8Array, room = 0): number {
    const ptr = this.base + this.offset;
    this.bytes.set(data, ptr);
    this.offset += data.length + room;
    return ptr;
  }

  take(length: number): number {
    const ptr = this.base + this.offset;
    this.offset += length;
    return ptr;
  }

  /** Zeroes everything laid out (the exports never grow memory, so the view is still current). */
  wipe(): void {
    this.bytes.fill(0, this.base, this.base + this.offset);
  }
}

/** Runs `use` with a fresh layout of `capacity` bytes and zeroes the layout afterwards, whatever happens. */
function withScratch<T>(core: CoreExports, capacity: number, use: (s: Scratch) => T): T {
  const s = new Scratch(core, capacity);
  try {
    return use(s);
  } finally {
    s.wipe();
  }
}

export class WasmCore {
  private constructor(private readonly core: CoreExports) {}

  static async load(url: URL = WASM_URL): Promise<WasmCore> {
    let module: WebAssembly.WebAssemblyInstantiatedSource;
    try {
      module = await WebAssembly.instantiate(await readFile(url), {});
    } catch (error) {
      throw new NetcryptError(ErrorCode.BACKEND_UNAVAILABLE, `wasm backend cannot load: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new WasmCore(module.instance.exports as unknown as CoreExports);
  }

  /** The module's linear memory, for tests that check what a call leaves behind in it. */
  get memory(): WebAssembly.Memory {
    return this.core.memory;
  }

  /** A256CBC-HS512 seal; the arguments are checked by `wrapAead`, as for every backend. */
  cbcHs512Seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const room = paddedLength(plaintext.length) - plaintext.length + TAG_BYTES;
    return this.#run(this.core.nc_seal, key, iv, aad, plaintext, room)!;
  }

  /** A256CBC-HS512 open; null for any failure. */
  cbcHs512Open(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    return this.#run(this.core.nc_open, key, iv, aad, sealed, 0);
  }

  /** AES-256-GCM seal: ciphertext ‖ tag. The arguments are checked by `wrapAead`. */
  gcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    return this.#run(this.core.nc_gcm_seal, key, nonce, aad, plaintext, GCM_TAG_BYTES)!;
  }

  /** AES-256-GCM open; null for a wrong tag (the module decrypts nothing then). */
  gcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    return this.#run(this.core.nc_gcm_open, key, nonce, aad, sealed, 0);
  }

  /**
   * Copies key, IV/nonce, AAD and data into the module's memory, with `room`
   * bytes after the data for the export to write into, runs one of the four
   * AEAD exports (they share a signature and work in place), and copies the
   * result out; null when it reports failure.
   */
  #run(
    aead: (keyPtr: number, ivPtr: number, aadPtr: number, aadLen: number, dataPtr: number, dataLen: number) => number,
    key: Uint8Array,
    iv: Uint8Array,
    aad: Uint8Array,
    data: Uint8Array,
    room: number,
  ): Uint8Array | null {
    return withScratch(this.core, key.length + iv.length + aad.length + data.length + room, (s) => {
      const keyPtr = s.put(key);
      const ivPtr = s.put(iv);
      const aadPtr = s.put(aad);
      const dataPtr = s.put(data, room);
      const length = aead(keyPtr, ivPtr, aadPtr, aad.length, dataPtr, data.length);
      return length < 0 ? null : s.bytes.slice(dataPtr, dataPtr + length);
    });
  }

  encodeEnvelope(envelope: Envelope): Uint8Array {
    if (!checkEnvelopeFields(envelope)) throw invalidArgument('envelope fields have invalid types or lengths');
    const { wrappedKey, iv, ciphertext, tag } = envelope;
    const size = this.core.nc_envelope_len(wrappedKey.length, ciphertext.length);
    return withScratch(this.core, wrappedKey.length + iv.length + ciphertext.length + tag.length + size, (s) => {
      const wkPtr = s.put(wrappedKey);
      const ivPtr = s.put(iv);
      const ctPtr = s.put(ciphertext);
      const tagPtr = s.put(tag);
      const outPtr = s.take(size);
      const length = this.core.nc_envelope_encode(wkPtr, wrappedKey.length, ivPtr, ctPtr, ciphertext.length, tagPtr, outPtr);
      if (length !== size) throw invalidArgument('envelope fields have invalid lengths');
      return s.bytes.slice(outPtr, outPtr + length);
    });
  }

  decodeEnvelope(bytes: Uint8Array): Envelope {
    if (!(bytes instanceof Uint8Array)) throw invalidArgument('envelope must be a Uint8Array');
    return withScratch(this.core, bytes.length + 32, (s) => {
      const ptr = s.put(bytes);
      const outPtr = s.take(32);
      if (this.core.nc_envelope_decode(ptr, bytes.length, outPtr) !== 0) {
        throw new NetcryptError(ErrorCode.BAD_ENVELOPE, 'malformed envelope');
      }
      const fields = new DataView(s.bytes.buffer, outPtr, 32);
      // The fields are views into the caller's own input; nothing is copied out of wasm memory.
      const field = (i: number) => bytes.subarray(fields.getUint32(8 * i, true), fields.getUint32(8 * i, true) + fields.getUint32(8 * i + 4, true));
      return { wrappedKey: field(0), iv: field(1), ciphertext: field(2), tag: field(3) };
    });
  }

  /** AES-256-CBC with PKCS#7, exposed so the primitive vectors can run against the real module. */
  aes256CbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
    return withScratch(this.core, key.length + iv.length + paddedLength(plaintext.length), (s) => {
      const keyPtr = s.put(key);
      const ivPtr = s.put(iv);
      const dataPtr = s.put(plaintext, paddedLength(plaintext.length) - plaintext.length);
      const length = this.core.nc_aes256_cbc_encrypt(keyPtr, ivPtr, dataPtr, plaintext.length);
      return s.bytes.slice(dataPtr, dataPtr + length);
    });
  }

  /** Returns null for a bad length or padding. */
  aes256CbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    return withScratch(this.core, key.length + iv.length + ciphertext.length, (s) => {
      const keyPtr = s.put(key);
      const ivPtr = s.put(iv);
      const dataPtr = s.put(ciphertext);
      const length = this.core.nc_aes256_cbc_decrypt(keyPtr, ivPtr, dataPtr, ciphertext.length);
      return length < 0 ? null : s.bytes.slice(dataPtr, dataPtr + length);
    });
  }

  /** Bitsliced AES-256-CTR (32-bit counter), exposed so it can be checked against node:crypto in the real module. */
  aes256Ctr32(key: Uint8Array, counter: Uint8Array, data: Uint8Array): { output: Uint8Array; counter: Uint8Array } {
    return withScratch(this.core, key.length + counter.length + data.length, (s) => {
      const keyPtr = s.put(key);
      const counterPtr = s.put(counter);
      const dataPtr = s.put(data);
      this.core.nc_aes256_ctr32(keyPtr, counterPtr, dataPtr, data.length);
      return { output: s.bytes.slice(dataPtr, dataPtr + data.length), counter: s.bytes.slice(counterPtr, counterPtr + 16) };
    });
  }

  /** GHASH of `data` zero-padded to whole blocks (no length block), exposed to check the real module against @noble. */
  ghash(h: Uint8Array, data: Uint8Array): Uint8Array {
    return withScratch(this.core, h.length + data.length + 16, (s) => {
      const hPtr = s.put(h);
      const dataPtr = s.put(data);
      const outPtr = s.take(16);
      this.core.nc_ghash(hPtr, dataPtr, data.length, outPtr);
      return s.bytes.slice(outPtr, outPtr + 16);
    });
  }

  hmacSha512(key: Uint8Array, message: Uint8Array): Uint8Array {
    return withScratch(this.core, key.length + message.length + 64, (s) => {
      const keyPtr = s.put(key);
      const msgPtr = s.put(message);
      const outPtr = s.take(64);
      this.core.nc_hmac_sha512(keyPtr, key.length, msgPtr, message.length, outPtr);
      return s.bytes.slice(outPtr, outPtr + 64);
    });
  }
}

export async function createWasmBackend(): Promise<Backend> {
  const core = await WasmCore.load();
  const cbcAead = wrapAead(A256CBC_HS512, {
    sealPieces: (key, iv, aad, plaintext) => [core.cbcHs512Seal(key, iv, aad, plaintext)],
    open: (key, iv, aad, sealed) => core.cbcHs512Open(key, iv, aad, sealed),
  });
  const gcmAead = wrapAead(A256GCM, {
    sealPieces: (key, nonce, aad, plaintext) => [core.gcmSeal(key, nonce, aad, plaintext)],
    open: (key, nonce, aad, sealed) => core.gcmOpen(key, nonce, aad, sealed),
  });
  return {
    name: 'wasm',
    seal: cbcAead.seal,
    sealPieces: cbcAead.sealPieces,
    open: cbcAead.open,
    gcmSeal: gcmAead.seal,
    gcmSealPieces: gcmAead.sealPieces,
    gcmOpen: gcmAead.open,
    gcmOpenPieces: gcmAead.openPieces,
    encodeEnvelope: (envelope) => core.encodeEnvelope(envelope),
    decodeEnvelope: (bytes) => core.decodeEnvelope(bytes),
  };
}
