/**
 * What a call into the real WebAssembly module leaves behind in its linear
 * memory. After every operation the wasm backend offers — both suites' seal
 * and open (authentic, forged, malformed), the envelope codec and the
 * primitive hooks — with small and 64 KiB+ inputs, the whole memory must hold
 * none of: the key; its AES schedule as bytes, as 32-bit words and in
 * bitsliced form; GCM's H (as bytes and as GHASH's words), tag mask and
 * keystream; HMAC's padded keys; the plaintext; the ciphertext. And every byte
 * of the module's stack that the call wrote must be zero again, except the
 * export's own frame of pointers and lengths: that covers the forms this test
 * does not compute (the vector-permute schedule, SHA-512 states, temporaries).
 */

import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { WASM_URL, WasmCore } from '../src/backend/wasm.ts';

/** The initial `__stack_pointer`: the module's first mutable i32 global. rustc's lld puts the stack first, below it. */
function initialStackPointer(module: Uint8Array): number {
  let p = 8;
  const leb = () => {
    let value = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = module[p++]!;
      value |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return value >>> 0;
  };
  while (p < module.length) {
    const id = module[p++];
    const end = leb() + p;
    if (id === 6) {
      for (let count = leb(); count > 0; count--) {
        const [type, mutable, opcode] = [module[p++], module[p++], module[p++]];
        const value = leb();
        p++; // end
        if (type === 0x7f && mutable === 1 && opcode === 0x41) return value;
      }
    }
    p = end;
  }
  throw new Error('no stack pointer global in the module');
}

const STACK_TOP = initialStackPointer(readFileSync(WASM_URL));
/** The export's own frame at the top of the stack: argument pointers and lengths, nothing secret. */
const EXPORT_FRAME_BYTES = 64;
const STACK_FILL = 0xa5;

/** Byte strings to look for, indexed by a 4-byte word at a non-zero offset of each so a scan costs one lookup per position. */
class Needles {
  readonly #byWord = new Map<number, { what: string; bytes: Uint8Array; at: number }[]>();
  count = 0;

  add(what: string, bytes: Uint8Array): this {
    assert.ok(bytes.length >= 8, what);
    // Index on a word that is not all zeros, so that a wiped memory costs no comparisons.
    let at = 0;
    while (at + 4 < bytes.length && word(bytes, at) === 0) at++;
    const list = this.#byWord.get(word(bytes, at)) ?? [];
    list.push({ what, bytes, at });
    this.#byWord.set(word(bytes, at), list);
    this.count++;
    return this;
  }

  /** Every 16-byte block of `data`, and its last 16 bytes (or all of it if shorter). */
  addBlocks(what: string, data: Uint8Array): this {
    for (let i = 0; i + 16 <= data.length; i += 16) this.add(`${what}[${i}..]`, data.subarray(i, i + 16));
    if (data.length >= 8) this.add(`${what} end`, data.subarray(Math.max(0, data.length - 16)));
    return this;
  }

  findIn(memory: Uint8Array): string[] {
    const found: string[] = [];
    for (let i = 0; i + 4 <= memory.length; i++) {
      const w = word(memory, i);
      if (w === 0) continue;
      for (const n of this.#byWord.get(w) ?? []) {
        const start = i - n.at;
        if (start >= 0 && start + n.bytes.length <= memory.length && equal(memory, start, n.bytes)) found.push(`${n.what} at ${start}`);
      }
    }
    return found;
  }
}

const word = (b: Uint8Array, i: number) => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
const equal = (memory: Uint8Array, start: number, bytes: Uint8Array) => bytes.every((b, j) => memory[start + j] === b);
const xorEach = (bytes: Uint8Array, c: number) => bytes.map((b) => b ^ c);
const reversed = (bytes: Uint8Array) => Uint8Array.from(bytes).reverse();

const SBOX = (() => {
  const mul = (a: number, b: number) => {
    let r = 0;
    for (; b; b >>= 1, a = ((a << 1) ^ (a & 0x80 ? 0x11b : 0)) & 0xff) if (b & 1) r ^= a;
    return r;
  };
  const rotl = (x: number, n: number) => ((x << n) | (x >> (8 - n))) & 0xff;
  return Uint8Array.from({ length: 256 }, (_, x) => {
    const inv = x === 0 ? 0 : Array.from({ length: 256 }, (_, y) => y).find((y) => mul(x, y) === 1)!;
    return inv ^ rotl(inv, 1) ^ rotl(inv, 2) ^ rotl(inv, 3) ^ rotl(inv, 4) ^ 0x63;
  });
})();

/** The 15 AES-256 round keys (FIPS 197 §5.2), 16 bytes each. */
function roundKeys(key: Uint8Array): Uint8Array[] {
  const w = new Uint8Array(240);
  w.set(key);
  for (let i = 8, rcon = 1; i < 60; i++) {
    const t = w.slice(4 * i - 4, 4 * i);
    if (i % 8 === 0) {
      t.set([SBOX[t[1]!]! ^ rcon, SBOX[t[2]!]!, SBOX[t[3]!]!, SBOX[t[0]!]!]);
      rcon = ((rcon << 1) ^ (rcon & 0x80 ? 0x11b : 0)) & 0xff;
    } else if (i % 8 === 4) {
      t.set(t.map((b) => SBOX[b]!));
    }
    for (let j = 0; j < 4; j++) w[4 * i + j] = w[4 * i - 32 + j]! ^ t[j]!;
  }
  return Array.from({ length: 15 }, (_, r) => w.slice(16 * r, 16 * r + 16));
}

/** A round key as the bitsliced core keeps it: the bytes (with 0x63 folded in after round 0) row-major, then plane b = bit b of each byte as 0x00/0xff. */
function bitslicedRoundKey(rk: Uint8Array, round: number): Uint8Array {
  const rows = Uint8Array.from({ length: 16 }, (_, n) => rk[4 * (n % 4) + Math.floor(n / 4)]! ^ (round > 0 ? 0x63 : 0));
  const planes = new Uint8Array(128);
  for (let b = 0; b < 8; b++) for (let n = 0; n < 16; n++) planes[16 * b + n] = (rows[n]! >> b) & 1 ? 0xff : 0;
  return planes;
}

const aesBlock = (key: Uint8Array, block: Uint8Array) => createCipheriv('aes-256-ecb', key, null).setAutoPadding(false).update(block);
const reverseBits64 = (x: bigint) => BigInt(`0b${x.toString(2).padStart(64, '0').split('').reverse().join('')}`);
const le64 = (x: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(x);
  return b;
};

/** An AES-256 key in every form the crate computes that this test can compute too. */
function addAesKey(needles: Needles, what: string, key: Uint8Array): Needles {
  needles.addBlocks(what, key);
  roundKeys(key).forEach((rk, r) => {
    if (r >= 2) {
      needles.add(`${what} round key ${r}`, rk);
      // The expansion's u32 words, little-endian in memory.
      needles.add(`${what} round key ${r} as words`, Uint8Array.from(rk, (_, i) => rk[4 * (i >> 2) + 3 - (i & 3)]!));
    }
    needles.add(`${what} round key ${r} bitsliced`, bitslicedRoundKey(rk, r));
  });
  return needles;
}

/** AES-256-GCM's key-derived secrets for one message: H (bytes and GHASH's words), E(J0), the keystream. */
function addGcmSecrets(needles: Needles, key: Uint8Array, nonce: Uint8Array, length: number): Needles {
  const h = aesBlock(key, new Uint8Array(16));
  needles.add('H', h).add('H as words', reversed(h));
  const [h1, h0] = [h.readBigUInt64BE(0), h.readBigUInt64BE(8)];
  for (const [name, x] of [['h0', h0], ['h1', h1], ['h0^h1', h0 ^ h1]] as const) {
    needles.add(`GHASH ${name}`, le64(x)).add(`GHASH ${name} bit-reversed`, le64(reverseBits64(x)));
  }
  needles.add('E(J0)', aesBlock(key, Buffer.concat([nonce, Buffer.from([0, 0, 0, 1])])));
  const keystream = createCipheriv('aes-256-ctr', key, Buffer.concat([nonce, Buffer.from([0, 0, 0, 2])])).update(new Uint8Array(length));
  return needles.addBlocks('keystream', keystream);
}

/** A256CBC-HS512's 64-byte key: both halves, HMAC's padded key blocks, the AES schedule. */
function addCbcHs512Key(needles: Needles, key: Uint8Array): Needles {
  const macKey = key.subarray(0, 32);
  needles.addBlocks('MAC key', macKey).add('MAC key ^ ipad', xorEach(macKey, 0x36)).add('MAC key ^ opad', xorEach(macKey, 0x5c));
  return addAesKey(needles, 'encryption key', key.subarray(32));
}

describe('the wasm module keeps no secret in its memory after a call', async () => {
  const core = await WasmCore.load();

  /** Runs `call` with the stack painted, then checks the stack and scans all of memory. */
  function check(needles: Needles, call: () => void): void {
    new Uint8Array(core.memory.buffer).fill(STACK_FILL, 0, STACK_TOP);
    call();
    const memory = new Uint8Array(core.memory.buffer);
    const written: number[] = [];
    let zeros = 0;
    for (let i = 0; i < STACK_TOP - EXPORT_FRAME_BYTES; i++) {
      if (memory[i] === 0) zeros++;
      else if (memory[i] !== STACK_FILL && written.length < 8) written.push(STACK_TOP - i);
    }
    assert.deepEqual(written, [], 'bytes the call left on the stack, as distances below its top');
    assert.ok(zeros >= 1024, 'the call used the stack and zeroed it');
    assert.deepEqual(needles.findIn(memory), [], 'secrets left in the module memory');
  }

  it('derives AES-256 round keys as FIPS 197 (A.3) does, so the schedule needles are the real ones', () => {
    const rk = roundKeys(Buffer.from('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', 'hex'));
    assert.equal(Buffer.from(rk[2]!).toString('hex').slice(0, 8), '9ba35411');
    assert.equal(Buffer.from(rk[14]!).toString('hex').slice(24), '706c631e');
  });

  for (const size of [37, 65_536 + 100]) {
    const plaintext = randomBytes(size);
    const aad = randomBytes(13);

    describe(`AES-256-GCM, ${size}-byte plaintext`, () => {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const sealed = core.gcmSeal(key, nonce, aad, plaintext);
      const needles = () =>
        addGcmSecrets(addAesKey(new Needles(), 'key', key), key, nonce, size).addBlocks('plaintext', plaintext).addBlocks('sealed', sealed);

      it('seal', () => check(needles(), () => assert.equal(core.gcmSeal(key, nonce, aad, plaintext).length, size + 16)));
      it('open', () => check(needles(), () => assert.ok(Buffer.from(core.gcmOpen(key, nonce, aad, sealed)!).equals(plaintext))));
      it('open with a wrong tag', () => {
        const forged = Uint8Array.from(sealed);
        forged[forged.length - 1]! ^= 1;
        check(needles(), () => assert.equal(core.gcmOpen(key, nonce, aad, forged), null));
      });
      it('open with a wrong AAD', () => check(needles(), () => assert.equal(core.gcmOpen(key, nonce, randomBytes(13), sealed), null)));
      it('ctr32 (the hook)', () => {
        const counter = Buffer.concat([nonce, Buffer.from([0, 0, 0, 2])]);
        check(needles(), () => assert.ok(Buffer.from(core.aes256Ctr32(key, counter, plaintext).output).equals(sealed.subarray(0, size))));
      });
      it('ghash (the hook)', () => {
        const h = aesBlock(key, new Uint8Array(16));
        check(needles(), () => assert.equal(core.ghash(h, plaintext).length, 16));
      });
    });

    describe(`A256CBC-HS512, ${size}-byte plaintext`, () => {
      const key = randomBytes(64);
      const iv = randomBytes(16);
      const sealed = core.cbcHs512Seal(key, iv, aad, plaintext);
      const needles = () => addCbcHs512Key(new Needles(), key).addBlocks('plaintext', plaintext).addBlocks('sealed', sealed);

      it('seal', () => check(needles(), () => assert.equal(core.cbcHs512Seal(key, iv, aad, plaintext).length, sealed.length)));
      it('open', () => check(needles(), () => assert.ok(Buffer.from(core.cbcHs512Open(key, iv, aad, sealed)!).equals(plaintext))));
      it('open with a wrong tag', () => {
        const forged = Uint8Array.from(sealed);
        forged[forged.length - 1]! ^= 1;
        check(needles(), () => assert.equal(core.cbcHs512Open(key, iv, aad, forged), null));
      });
      it('open of a length that is not whole blocks', () => {
        check(needles(), () => assert.equal(core.cbcHs512Open(key, iv, aad, sealed.subarray(0, sealed.length - 1)), null));
      });
      it('AES-256-CBC encrypt and decrypt, and decrypt with bad padding (the hooks)', () => {
        const encKey = key.subarray(32);
        check(needles(), () => {
          const ct = core.aes256CbcEncrypt(encKey, iv, plaintext);
          assert.ok(Buffer.from(core.aes256CbcDecrypt(encKey, iv, ct)!).equals(plaintext));
        });
        const ct = core.aes256CbcEncrypt(encKey, iv, plaintext);
        ct[ct.length - 1]! ^= 0x80; // garbles the last block, padding and all
        check(needles(), () => assert.equal(core.aes256CbcDecrypt(encKey, iv, ct), null));
      });
      it('HMAC-SHA-512 (the hook), with a key longer than a block too', () => {
        check(needles(), () => assert.equal(core.hmacSha512(key.subarray(0, 32), plaintext).length, 64));
        const longKey = randomBytes(200);
        check(new Needles().addBlocks('long key', longKey).addBlocks('message', plaintext), () => core.hmacSha512(longKey, plaintext));
      });
    });
  }

  it('envelope encode, decode, and decode of a malformed envelope', () => {
    const fields = { wrappedKey: randomBytes(256), iv: randomBytes(16), ciphertext: randomBytes(65_536), tag: randomBytes(32) };
    const needles = new Needles().addBlocks('wrapped key', fields.wrappedKey).addBlocks('ciphertext', fields.ciphertext).add('tag', fields.tag);
    let encoded: Uint8Array = new Uint8Array();
    check(needles, () => {
      encoded = core.encodeEnvelope(fields);
    });
    check(needles, () => assert.ok(Buffer.from(core.decodeEnvelope(encoded).ciphertext).equals(fields.ciphertext)));
    check(needles, () => assert.throws(() => core.decodeEnvelope(encoded.subarray(0, encoded.length - 1)), { code: 'ERR_BAD_ENVELOPE' }));
  });
});
