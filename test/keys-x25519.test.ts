/** X25519 against all of Wycheproof's cases and RFC 7748 §6.1. */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { isNetcryptError } from '../src/errors.ts';
import { generateEphemeral, x25519Shared } from '../src/keys/x25519.ts';
import { hex, readShared } from './helpers/vectors.ts';

const isAuth = (error: unknown) => isNetcryptError(error, 'ERR_AUTH') && error.message === 'authentication failed';

describe('X25519', () => {
  /*
   * Every 'valid' case must compute `shared`. Of the 254 'acceptable' cases, the 31
   * flagged ZeroSharedSecret (low-order public points, some in non-canonical or
   * small encodings) give the all-zero secret: any attacker knows it, so we reject
   * them with ERR_AUTH as RFC 7748 §6.1 allows (OpenSSL itself refuses them with
   * ERR_OSSL_FAILED_DURING_DERIVATION). The other 223 (twist points, non-canonical
   * encodings ≥ p, edge-case multiplications) are well-defined by RFC 7748 — the top
   * bit is masked and u is reduced mod p — and compute `shared` like the valid ones.
   */
  it('Wycheproof: all cases', () => {
    const file = readShared('x25519_test.json');
    const counts = { valid: 0, acceptableComputed: 0, acceptableRejected: 0 };
    for (const group of file.testGroups) {
      for (const t of group.tests) {
        const context = `tcId ${t.tcId} ${t.comment}`;
        const { privateKey } = generateEphemeral(hex(t.private as string));
        const shared = hex(t.shared as string);
        if (shared.equals(Buffer.alloc(32))) {
          assert.equal(t.result, 'acceptable', context);
          assert.ok(t.flags.includes('ZeroSharedSecret'), context);
          assert.throws(() => x25519Shared(privateKey, hex(t.public as string)), isAuth, context);
          counts.acceptableRejected++;
        } else {
          assert.deepEqual(x25519Shared(privateKey, hex(t.public as string)), shared, context);
          if (t.result === 'valid') counts.valid++;
          else counts.acceptableComputed++;
        }
      }
    }
    assert.deepEqual(counts, { valid: 264, acceptableComputed: 223, acceptableRejected: 31 });
    assert.equal(counts.valid + counts.acceptableComputed + counts.acceptableRejected, file.numberOfTests);
  });

  it('RFC 7748 §6.1: fixed private keys give the published public keys and shared secret', () => {
    const alice = generateEphemeral(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const bob = generateEphemeral(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
    assert.deepEqual(alice.publicRaw, hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'));
    assert.deepEqual(bob.publicRaw, hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'));
    const shared = hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
    assert.deepEqual(x25519Shared(alice.privateKey, bob.publicRaw), shared);
    assert.deepEqual(x25519Shared(bob.privateKey, alice.publicRaw), shared);
  });

  it('fresh ephemerals differ and agree on the shared secret', () => {
    const a = generateEphemeral();
    const b = generateEphemeral();
    assert.equal(a.publicRaw.length, 32);
    assert.notDeepEqual(a.publicRaw, b.publicRaw);
    assert.deepEqual(x25519Shared(a.privateKey, b.publicRaw), x25519Shared(b.privateKey, a.publicRaw));
  });

  it('rejects a peer key of the wrong length, a private key of the wrong size, and a non-X25519 key', () => {
    const { privateKey, publicRaw } = generateEphemeral();
    for (const length of [0, 31, 33, 64]) {
      assert.throws(() => x25519Shared(privateKey, Buffer.alloc(length, 9)), (e: unknown) => isNetcryptError(e, 'ERR_BAD_KEY'));
      assert.throws(() => generateEphemeral(Buffer.alloc(length, 9)), (e: unknown) => isNetcryptError(e, 'ERR_INVALID_ARGUMENT'));
    }
    const ed25519 = generateKeyPairSync('ed25519');
    assert.throws(() => x25519Shared(ed25519.privateKey, publicRaw), (e: unknown) => isNetcryptError(e, 'ERR_INVALID_ARGUMENT'));
    const x = generateKeyPairSync('x25519');
    assert.throws(() => x25519Shared(x.publicKey, publicRaw), (e: unknown) => isNetcryptError(e, 'ERR_INVALID_ARGUMENT'));
  });
});

describe('ephemeral generation under garbage collection', () => {
  // Node 20 deadlocked exporting a fresh key as JWK when a collection finalised its generation job
  // mid-export (the main thread waits on a lock forever, at no CPU). In a child, so a deadlock fails this test instead of hanging the run.
  it('100 000 ephemerals with garbage around them: the process finishes', () => {
    const script = `
      import { generateEphemeral } from ${JSON.stringify(new URL('../src/keys/x25519.ts', import.meta.url).href)};
      let junk = [];
      for (let i = 0; i < 100000; i++) {
        generateEphemeral();
        junk.push(new Array(50).fill(i));
        if (junk.length > 1000) junk = [];
      }
      console.log('done');
    `;
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 240_000 });
    assert.equal(result.signal, null, 'the child deadlocked and was killed');
    assert.equal(result.stdout.trim(), 'done', result.stderr);
  });
});
