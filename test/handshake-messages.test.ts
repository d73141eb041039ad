/** Hello and key messages: strict canonical MessagePack in key order; ERR_VERSION before any other schema check. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { ErrorCode, isNetcryptError } from '../src/errors.ts';
import {
  type Hello,
  type KeyMessage,
  decodeHello,
  decodeKeyMessage,
  encodeHello,
  encodeKeyMessage,
  helloFeatures,
  negotiate,
} from '../src/wire/handshake-messages.ts';
import { SUITE_PREFERENCE } from '../src/wire/records.ts';

const FEATURES = helloFeatures(SUITE_PREFERENCE, true);
/** The hello features of every netcrypt/1 peer before suite negotiation. */
const TODAYS_FEATURES = ['a256cbc-hs512', 'x25519', 'rsa-oaep-sha256', 'lanes'];

const documented = (error: unknown) => isNetcryptError(error, ErrorCode.PROTOCOL) || isNetcryptError(error, ErrorCode.VERSION);
const isProtocol = (error: unknown) => isNetcryptError(error, ErrorCode.PROTOCOL);
const isVersion = (error: unknown) => isNetcryptError(error, ErrorCode.VERSION);

const hello: fc.Arbitrary<Hello> = fc.record({
  role: fc.constantFrom('client' as const, 'server' as const),
  features: fc
    .uniqueArray(fc.string({ unit: 'grapheme', maxLength: 12 }).filter((f) => Buffer.byteLength(f) <= 64 && !FEATURES.includes(f)), { maxLength: 12 - FEATURES.length })
    .map((extra) => [...FEATURES, ...extra]),
  rsa: fc.uint8Array({ minLength: 1, maxLength: 1024 }),
  x25519: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  nonce: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});
const keyMessage: fc.Arbitrary<KeyMessage> = fc.record({ wrapped: fc.uint8Array({ minLength: 256, maxLength: 512 }) });

const edits = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 });
function mutate(bytes: Uint8Array, changes: [number, number, string][]): Uint8Array {
  const out = [...bytes];
  for (const [at, value, op] of changes) {
    const i = at % (out.length + 1);
    if (op === 'set' && i < out.length) out[i] = value;
    else if (op === 'insert') out.splice(i, 0, value);
    else out.splice(i, 1);
  }
  return Uint8Array.from(out);
}

/** An accepted input must be the one encoding of what it decodes to; a refused one must carry a documented code. */
function acceptsOnlyCanonical<T>(decode: (b: Uint8Array) => T, encodeBack: (m: T) => Uint8Array, bytes: Uint8Array): void {
  let message: T;
  try {
    message = decode(bytes);
  } catch (error) {
    assert.ok(documented(error), String(error));
    return;
  }
  assert.deepEqual(encodeBack(message), bytes);
}

const plain = (value: object) => JSON.parse(JSON.stringify(value, (_, v) => (v instanceof Uint8Array ? [...v] : v)));
const HELLO_FIELDS = (h: Hello) => ({ t: 'hello', p: 'netcrypt', v: 1, role: h.role, features: h.features, rsa: h.rsa, x25519: h.x25519, nonce: h.nonce });

describe('handshake messages', () => {
  it('decode(encode(x)) is x, and the encoding is what @msgpack/msgpack writes for the fields in order', () => {
    fc.assert(
      fc.property(hello, keyMessage, (h, k) => {
        assert.deepEqual(plain(decodeHello(encodeHello(h))), plain(h));
        assert.deepEqual(encodeHello(h), encode(HELLO_FIELDS(h)));
        assert.deepEqual(plain(decodeKeyMessage(encodeKeyMessage(k))), plain(k));
        assert.deepEqual(encodeKeyMessage(k), encode({ t: 'key', wrapped: k.wrapped }));
      }),
      { numRuns: 300 },
    );
  });

  it('mutated and arbitrary bytes are refused with ERR_PROTOCOL or ERR_VERSION, or are the canonical encoding of what they decode to', () => {
    fc.assert(fc.property(hello, edits, (h, e) => acceptsOnlyCanonical(decodeHello, encodeHello, mutate(encodeHello(h), e))), { numRuns: 2000 });
    fc.assert(fc.property(keyMessage, edits, (k, e) => acceptsOnlyCanonical(decodeKeyMessage, encodeKeyMessage, mutate(encodeKeyMessage(k), e))), { numRuns: 1000 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        acceptsOnlyCanonical(decodeHello, encodeHello, bytes);
        acceptsOnlyCanonical(decodeKeyMessage, encodeKeyMessage, bytes);
      }),
      { numRuns: 3000 },
    );
  });

  const sample: Hello = { role: 'client', features: [...FEATURES], rsa: new Uint8Array(300), x25519: new Uint8Array(32), nonce: new Uint8Array(32) };

  it('fields in another order, repeated, missing or extra are ERR_PROTOCOL', () => {
    const { t, p, v, role, features, rsa, x25519, nonce } = HELLO_FIELDS(sample);
    assert.throws(() => decodeHello(encode({ t, p, v, features, role, rsa, x25519, nonce })), isProtocol);
    assert.throws(() => decodeHello(encode({ p, t, v, role, features, rsa, x25519, nonce })), isProtocol);
    assert.throws(() => decodeHello(encode({ t, p, v, role, features, rsa, x25519 })), isProtocol);
    assert.throws(() => decodeHello(encode({ t, p, v, role, features, rsa, x25519, nonce, extra: 1 })), isProtocol);
    assert.throws(() => decodeKeyMessage(encode({ wrapped: new Uint8Array(256), t: 'key' })), isProtocol);
    assert.throws(() => decodeHello(Uint8Array.of(...encodeHello(sample), 0x00)), isProtocol);
    assert.throws(() => decodeHello(encode({ t, p, v, role, features: [...features, features[0]], rsa, x25519, nonce })), isProtocol);
  });

  it('a peer of another version gets ERR_VERSION whatever the rest of its hello holds', () => {
    assert.throws(() => decodeHello(encode({ t: 'hello', p: 'netcrypt', v: 2 })), isVersion);
    assert.throws(() => decodeHello(encode({ t: 'hello', p: 'netcrypt', v: 2, role: 7, more: [1, 2, 3], x: { y: 1 } })), isVersion);
    assert.throws(() => decodeHello(encode({ ...HELLO_FIELDS(sample), features: ['x25519'] })), isVersion);
    // Not a netcrypt hello at all: a schema error.
    assert.throws(() => decodeHello(encode({ t: 'hello', p: 'other', v: 2 })), isProtocol);
  });

  it('longer encodings of the same values are ERR_PROTOCOL', () => {
    const bytes = encodeHello(sample);
    // "v" 1 written as uint8
    const v = Buffer.from(bytes).indexOf(Buffer.from([0xa1, 0x76, 0x01]));
    assert.throws(() => decodeHello(Uint8Array.of(...bytes.subarray(0, v + 2), 0xcc, 0x01, ...bytes.subarray(v + 3))), isProtocol);
    // the 32-byte nonce as bin16
    const n = bytes.length - 34;
    assert.equal(bytes[n], 0xc4);
    assert.throws(() => decodeHello(Uint8Array.of(...bytes.subarray(0, n), 0xc5, 0x00, 0x20, ...bytes.subarray(n + 2))), isProtocol);
  });

  it('strings are strict UTF-8', () => {
    const withFeature = (feature: number[]) => {
      const features = [...encode(FEATURES as unknown as string[])];
      features[0] = 0x90 | (FEATURES.length + 1);
      const before = [...encode({ t: 'hello', p: 'netcrypt', v: 1, role: 'client' })];
      before[0] = 0x88;
      return Uint8Array.of(...before, 0xa8, ...Buffer.from('features'), ...features, 0xa0 | feature.length, ...feature, ...encode({ rsa: new Uint8Array(300), x25519: new Uint8Array(32), nonce: new Uint8Array(32) }).subarray(1));
    };
    assert.deepEqual(decodeHello(withFeature([0x61, 0x62])).features.at(-1), 'ab');
    assert.throws(() => decodeHello(withFeature([0x61, 0xff])), isProtocol);
    assert.throws(() => decodeHello(withFeature([0xc1, 0xb8])), isProtocol);
  });
});

describe('suite negotiation', () => {
  const offer = fc.record({
    suites: fc.subarray([...SUITE_PREFERENCE], { minLength: 1 }),
    keyUpdates: fc.boolean(),
    extra: fc.array(fc.constantFrom('a256gcm', 'key-update', 'future-suite', 'a256cbc-hs512'), { maxLength: 3 }),
  });

  it('a side restricted to a256cbc-hs512 without key updates lists exactly what peers listed before negotiation', () => {
    assert.deepEqual(helloFeatures(['a256cbc-hs512'], false), TODAYS_FEATURES);
  });

  it('a peer with the old feature list gets a256cbc-hs512 and no key updates', () => {
    assert.deepEqual(negotiate(FEATURES, TODAYS_FEATURES), { suite: 'a256cbc-hs512', keyUpdates: false });
    assert.deepEqual(negotiate(TODAYS_FEATURES, FEATURES), { suite: 'a256cbc-hs512', keyUpdates: false });
  });

  it('two current peers pick a256gcm with key updates; a256gcm is never picked without them', () => {
    assert.deepEqual(negotiate(FEATURES, FEATURES), { suite: 'a256gcm', keyUpdates: true });
    assert.deepEqual(negotiate(FEATURES, [...TODAYS_FEATURES, 'a256gcm']), { suite: 'a256cbc-hs512', keyUpdates: false });
    assert.throws(() => negotiate(FEATURES, ['x25519', 'rsa-oaep-sha256', 'lanes', 'a256gcm']), isVersion);
  });

  it('both sides reach the same answer from the two lists, whichever side computes it', () => {
    fc.assert(
      fc.property(offer, offer, (a, b) => {
        if (a.suites.includes('a256gcm') && !a.keyUpdates) a.keyUpdates = true;
        const local = helloFeatures(a.suites, a.keyUpdates);
        const peer = [...helloFeatures(b.suites.includes('a256gcm') && !b.keyUpdates ? ['a256cbc-hs512'] : b.suites, b.keyUpdates), ...b.extra];
        let forward: unknown;
        let backward: unknown;
        try {
          forward = negotiate(local, peer);
        } catch (error) {
          forward = isVersion(error) ? 'version' : error;
        }
        try {
          backward = negotiate(peer, local);
        } catch (error) {
          backward = isVersion(error) ? 'version' : error;
        }
        assert.deepEqual(forward, backward);
        if (forward !== 'version') {
          const { suite } = forward as { suite: string };
          assert.ok(local.includes(suite) && peer.includes(suite));
          // Nothing both prefer more was available.
          for (const better of SUITE_PREFERENCE.slice(0, SUITE_PREFERENCE.indexOf(suite as never))) {
            assert.ok(!(local.includes(better) && peer.includes(better) && local.includes('key-update') && peer.includes('key-update')));
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('an empty or unknown suite list is refused up front', () => {
    assert.throws(() => helloFeatures([], true), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => helloFeatures(['chacha' as never], true), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => helloFeatures(['a256gcm'], false), { code: 'ERR_INVALID_ARGUMENT' });
  });
});
