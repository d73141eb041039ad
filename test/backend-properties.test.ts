/** fast-check properties over every backend: equivalence, tamper detection, decoder robustness. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WasmCore } from '../src/backend/wasm.ts';
import { NetcryptError } from '../src/errors.ts';
import { loadAllBackends } from './helpers/backends.ts';

const backends = await loadAllBackends();

/** Deterministic bytes from a seed, so large inputs shrink and replay without storing them. */
function seededBytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Lengths from 0 to 4 MiB, weighted towards every block boundary. */
const lengthArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 4, arbitrary: fc.tuple(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: -1, max: 1 })).map(([b, d]) => b * 16 + d) },
  { weight: 1, arbitrary: fc.integer({ min: 300, max: 4 << 20 }) },
);

const inputArb = fc.record({
  key: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  iv: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  aad: fc.uint8Array({ maxLength: 200 }),
  seed: fc.integer(),
  length: lengthArb,
});

describe('backend properties', () => {
  it('all backends seal identically (whole or in pieces) and each opens what every other seals', () => {
    fc.assert(
      fc.property(inputArb, ({ key, iv, aad, seed, length }) => {
        const plaintext = seededBytes(seed, length);
        const sealed = backends.map((b) => Buffer.from(b.seal(key, iv, aad, plaintext)));
        for (const s of sealed) assert.deepEqual(s, sealed[0]);
        for (const b of backends) assert.deepEqual(Buffer.concat(b.sealPieces(key, iv, aad, plaintext)), sealed[0]);
        for (const b of backends) assert.deepEqual(Buffer.from(b.open(key, iv, aad, sealed[0]!)), Buffer.from(plaintext));
      }),
      { numRuns: 120 },
    );
  });

  it('flipping any bit of ciphertext, tag, IV or AAD fails with ERR_AUTH on every backend', () => {
    const smallInput = inputArb.chain((input) =>
      fc.record({
        input: fc.constant({ ...input, length: input.length % 200, aad: input.aad.length ? input.aad : new Uint8Array([1]) }),
        target: fc.constantFrom('ciphertext', 'tag', 'iv', 'aad'),
        position: fc.nat(),
        bit: fc.integer({ min: 0, max: 7 }),
      }),
    );
    fc.assert(
      fc.property(smallInput, ({ input: { key, iv, aad, seed, length }, target, position, bit }) => {
        const sealed = backends[0]!.seal(key, iv, aad, seededBytes(seed, length));
        const parts = {
          ciphertext: Uint8Array.from(sealed.subarray(0, sealed.length - 32)),
          tag: Uint8Array.from(sealed.subarray(sealed.length - 32)),
          iv: Uint8Array.from(iv),
          aad: Uint8Array.from(aad),
        };
        const victim = parts[target];
        victim[position % victim.length]! ^= 1 << bit;
        const tampered = Buffer.concat([parts.ciphertext, parts.tag]);
        for (const b of backends) {
          assert.throws(
            () => b.open(key, parts.iv, parts.aad, tampered),
            (e: unknown) => e instanceof NetcryptError && e.code === 'ERR_AUTH',
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  /** AES-256-GCM lengths up to about 1 MiB, weighted towards the edges of blocks (16 bytes), 8-block batches and 4 KiB chunks. */
  const gcmLengthArb = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) },
    { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 1, max: 512 }), fc.integer({ min: -1, max: 1 })).map(([b, d]) => b * 16 + d) },
    { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 1, max: 64 }), fc.constantFrom(-17, -16, -15, -1, 0, 1, 15, 16, 17)).map(([b, d]) => b * 128 + d) },
    { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 1, max: 256 }), fc.constantFrom(-129, -128, -16, -1, 0, 1, 16, 127, 128)).map(([c, d]) => c * 4096 + d) },
    { weight: 1, arbitrary: fc.integer({ min: 300, max: (1 << 20) + 300 }) },
  );

  const gcmInputArb = fc.record({
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    aad: fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 600 })),
    seed: fc.integer(),
    length: gcmLengthArb,
  });

  it('AES-256-GCM: all backends seal identically (whole or in pieces) and each opens what every other seals', () => {
    fc.assert(
      fc.property(gcmInputArb, ({ key, nonce, aad, seed, length }) => {
        const plaintext = seededBytes(seed, length);
        const sealed = backends.map((b) => Buffer.from(b.gcmSeal(key, nonce, aad, plaintext)));
        assert.equal(sealed[0]!.length, length + 16);
        for (const s of sealed) assert.ok(s.equals(sealed[0]!), 'sealed bytes differ between backends');
        for (const b of backends) assert.ok(Buffer.concat(b.gcmSealPieces(key, nonce, aad, plaintext)).equals(sealed[0]!), b.name);
        for (const b of backends) assert.ok(Buffer.from(b.gcmOpen(key, nonce, aad, sealed[0]!)).equals(plaintext), b.name);
      }),
      { numRuns: 120 },
    );
  });

  it('AES-256-GCM: opening in pieces, split anywhere (inside the tag too), gives the plaintext, and any flipped bit ERR_AUTH', () => {
    fc.assert(
      fc.property(gcmInputArb, fc.array(fc.nat(), { maxLength: 6 }), fc.nat(), (input, cuts, flip) => {
        const { key, nonce, aad, seed } = input;
        const length = input.length % 5000;
        const plaintext = seededBytes(seed, length);
        const sealed = Buffer.from(backends[0]!.gcmSeal(key, nonce, aad, plaintext));
        const points = [...new Set(cuts.map((c) => c % (sealed.length + 1)))].sort((x, y) => x - y);
        const split = (bytes: Buffer) => [0, ...points].map((start, i) => bytes.subarray(start, [...points, bytes.length][i]));
        for (const b of backends) {
          assert.ok(Buffer.concat(b.gcmOpenPieces(key, nonce, aad, split(sealed))).equals(plaintext), b.name);
          const tampered = Buffer.from(sealed);
          tampered[flip % tampered.length]! ^= 1 << flip % 8;
          assert.throws(() => b.gcmOpenPieces(key, nonce, aad, split(tampered)), (e: unknown) => e instanceof NetcryptError && e.code === 'ERR_AUTH', b.name);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('AES-256-GCM: flipping any bit of ciphertext, tag, nonce or AAD fails with ERR_AUTH on every backend', () => {
    const tamperArb = gcmInputArb.chain((input) =>
      fc.record({
        input: fc.constant({ ...input, length: input.length % 300, aad: input.aad.length ? input.aad : new Uint8Array([1]) }),
        target: fc.constantFrom('ciphertext', 'tag', 'nonce', 'aad'),
        position: fc.nat(),
        bit: fc.integer({ min: 0, max: 7 }),
      }),
    );
    fc.assert(
      fc.property(tamperArb, ({ input: { key, nonce, aad, seed, length }, target, position, bit }) => {
        const sealed = backends[0]!.gcmSeal(key, nonce, aad, seededBytes(seed, length));
        const parts = {
          ciphertext: Uint8Array.from(sealed.subarray(0, sealed.length - 16)),
          tag: Uint8Array.from(sealed.subarray(sealed.length - 16)),
          nonce: Uint8Array.from(nonce),
          aad: Uint8Array.from(aad),
        };
        const victim = parts[target];
        fc.pre(victim.length > 0); // an empty message has no ciphertext bit to flip
        victim[position % victim.length]! ^= 1 << bit;
        const tampered = Buffer.concat([parts.ciphertext, parts.tag]);
        for (const b of backends) {
          assert.throws(
            () => b.gcmOpen(key, parts.nonce, parts.aad, tampered),
            (e: unknown) => e instanceof NetcryptError && e.code === 'ERR_AUTH',
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  const validEnvelope = backends[0]!.encodeEnvelope({
    wrappedKey: seededBytes(1, 384),
    iv: seededBytes(2, 16),
    ciphertext: seededBytes(3, 64),
    tag: seededBytes(4, 32),
  });

  /** Arbitrary bytes, and valid envelopes with bytes overwritten, inserted or cut. */
  const hostileBytes = fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc
      .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'cut')), { minLength: 1, maxLength: 4 })
      .map((edits) => {
        const bytes = Array.from(validEnvelope);
        for (const [position, value, op] of edits) {
          const at = position % (bytes.length + 1);
          if (op === 'set') bytes[Math.min(at, bytes.length - 1)] = value;
          else if (op === 'insert') bytes.splice(at, 0, value);
          else bytes.length = at;
        }
        return Uint8Array.from(bytes);
      }),
  );

  it('the envelope decoder returns an envelope or throws ERR_BAD_ENVELOPE, identically on every backend', () => {
    fc.assert(
      fc.property(hostileBytes, (bytes) => {
        const outcomes = backends.map((b) => {
          try {
            const e = b.decodeEnvelope(bytes);
            const total = e.wrappedKey.length + e.iv.length + e.ciphertext.length + e.tag.length;
            assert.ok(total <= bytes.length, 'decoded fields cannot exceed the input');
            return Buffer.from(b.encodeEnvelope(e)).toString('hex');
          } catch (error) {
            assert.ok(error instanceof NetcryptError && error.code === 'ERR_BAD_ENVELOPE', String(error));
            return 'rejected';
          }
        });
        for (const outcome of outcomes) assert.equal(outcome, outcomes[0]);
        // Accepted means canonical: re-encoding gives back the exact input.
        if (outcomes[0] !== 'rejected') assert.equal(outcomes[0], Buffer.from(bytes).toString('hex'));
      }),
      { numRuns: 3000 },
    );
  });

  it('a declared length of 4 GiB costs the decoder nothing', async () => {
    const core = await WasmCore.load();
    const hostile = Buffer.concat([
      Buffer.from([0x85, 0xa1, 0x76, 0x01, 0xa3, 0x6b, 0x65, 0x79, 0xc4, 0x01, 0x00, 0xa2, 0x69, 0x76, 0xc4, 0x10]),
      Buffer.alloc(16),
      Buffer.from([0xa2, 0x63, 0x74, 0xc6, 0xff, 0xff, 0xff, 0xff]), // "ct": bin32 of 4 GiB
      Buffer.alloc(64),
    ]);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 200; i++) {
      for (const b of backends) assert.throws(() => b.decodeEnvelope(hostile), { code: 'ERR_BAD_ENVELOPE' });
      assert.throws(() => core.decodeEnvelope(hostile), { code: 'ERR_BAD_ENVELOPE' });
    }
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 << 20, 'no allocation proportional to the declared length');
  });
});
