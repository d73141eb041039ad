/** RSA identities: generation, fingerprints, key files on a real file system, and the peer-key parser. */

import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPair, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isNetcryptError } from '../src/errors.ts';
import {
  type Identity,
  fingerprint,
  fingerprintsEqual,
  generateIdentity,
  identityFromPrivateKey,
  isFingerprint,
  loadIdentity,
  loadOrCreateIdentity,
  parsePeerPublicKey,
  processIdentity,
  publicKeyPem,
  saveIdentity,
} from '../src/keys/identity.ts';
import { readShared } from './helpers/vectors.ts';

const code = (expected: string) => (error: unknown) => isNetcryptError(error) && error.code === expected;
const generateKeyPairAsync = promisify(generateKeyPair);

// One generated 2048-bit identity serves most tests, and Wycheproof's key is a second; key generation is the slow part.
const wycheproofPem = (readShared('rsa_oaep_2048_sha256_mgf1sha256_test.json').testGroups[0] as unknown as { privateKeyPem: string }).privateKeyPem;
let identity: Identity;
let dir: string;
before(async () => {
  [identity, dir] = await Promise.all([generateIdentity({ modulusLength: 2048 }), mkdtemp(join(tmpdir(), 'netcrypt-keys-'))]);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('generateIdentity', () => {
  it('generates a 2048-bit RSA identity with exponent 65537', () => {
    assert.equal(identity.modulusLength, 2048);
    assert.equal(identity.privateKey.asymmetricKeyType, 'rsa');
    assert.equal(identity.privateKey.asymmetricKeyDetails?.publicExponent, 65537n);
    assert.equal(identity.publicKey.type, 'public');
    assert.deepEqual(identity.publicKeyDer, identity.publicKey.export({ format: 'der', type: 'spki' }));
    assert.ok(Object.isFrozen(identity));
  });

  it('generates 3072 bits by default without blocking the event loop', async () => {
    let turns = 0;
    let spinning = true;
    const spin = () => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const generated = await generateIdentity();
    spinning = false;
    assert.equal(generated.modulusLength, 3072);
    // A synchronous generation would have let no event-loop turn through.
    assert.ok(turns > 0, `event loop turned ${turns} times`);
  });

  it('rejects sizes other than 2048, 3072 and 4096 as argument errors', async () => {
    for (const modulusLength of [1024, 1000, 5000, 0, 2047]) {
      await assert.rejects(generateIdentity({ modulusLength: modulusLength as 2048 }), code('ERR_INVALID_ARGUMENT'), String(modulusLength));
    }
  });
});

describe('fingerprint', () => {
  it('is SHA256: and unpadded base64 of SHA-256 over the SPKI DER (checked against openssl)', () => {
    // `openssl pkey -pubout -outform DER | openssl dgst -sha256 -binary | base64` on this key.
    assert.equal(identityFromPrivateKey(wycheproofPem).fingerprint, 'SHA256:yWN3irWUYKMuLniu097d2KsjWIEjga1FXGdfkHREptY');
  });

  it('is the same from a KeyObject, the private key, PEM, and DER', () => {
    const expected = identity.fingerprint;
    assert.match(expected, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.ok(isFingerprint(expected));
    assert.equal(fingerprint(identity.publicKey), expected);
    assert.equal(fingerprint(identity.privateKey), expected);
    assert.equal(fingerprint(publicKeyPem(identity.publicKey)), expected);
    assert.equal(fingerprint(publicKeyPem(identity.privateKey)), expected);
    assert.equal(fingerprint(identity.publicKeyDer), expected);
    assert.equal(fingerprint(new Uint8Array(identity.publicKeyDer)), expected);
  });

  it('rejects what is not a public key', () => {
    assert.throws(() => fingerprint(randomBytes(64)), code('ERR_BAD_KEY'));
    assert.throws(() => fingerprint('not a key'), code('ERR_BAD_KEY'));
  });

  it('isFingerprint accepts only the canonical 43-character form', () => {
    const body = identity.fingerprint.slice('SHA256:'.length);
    assert.ok(!isFingerprint(`${identity.fingerprint}=`));
    assert.ok(!isFingerprint(`sha256:${body}`));
    assert.ok(!isFingerprint(`SHA256:${body.slice(1)}`));
    assert.ok(!isFingerprint(`SHA256:${body.slice(0, 42)}B`)); // last character carries 2 bits that must be zero
  });

  it('fingerprintsEqual compares exactly, including different lengths', () => {
    const other = `SHA256:${Buffer.alloc(32).toString('base64').replace(/=+$/, '')}`;
    assert.ok(fingerprintsEqual(identity.fingerprint, `${identity.fingerprint}`));
    assert.ok(!fingerprintsEqual(identity.fingerprint, other));
    assert.ok(!fingerprintsEqual(identity.fingerprint, identity.fingerprint.slice(0, -1)));
    assert.ok(!fingerprintsEqual(identity.fingerprint, ''));
  });
});

describe('identity files', () => {
  it('save then load round-trips, with 0600 for the private key and 0644 for .pub', async () => {
    const path = join(dir, 'round-trip');
    await saveIdentity(identity, path);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(`${path}.pub`)).mode & 0o777, 0o644);
    assert.match(await readFile(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal(await readFile(`${path}.pub`, 'utf8'), publicKeyPem(identity.publicKey));
    const loaded = await loadIdentity(path);
    assert.equal(loaded.fingerprint, identity.fingerprint);
    assert.equal(loaded.modulusLength, 2048);
    assert.deepEqual(loaded.publicKeyDer, identity.publicKeyDer);
    // No temporary files left behind.
    assert.deepEqual((await readdir(dir)).filter((name) => name.startsWith('round-trip') || name.startsWith('.')).sort(), [
      'round-trip',
      'round-trip.pub',
    ]);
  });

  it('refuses to overwrite either file unless asked, and overwrites atomically when asked', async () => {
    const other = identityFromPrivateKey(wycheproofPem);
    const path = join(dir, 'existing');
    await saveIdentity(identity, path);
    await assert.rejects(saveIdentity(other, path), code('ERR_FILE_EXISTS'));
    assert.equal((await loadIdentity(path)).fingerprint, identity.fingerprint);

    const pubOnly = join(dir, 'pub-only');
    await writeFile(`${pubOnly}.pub`, 'something else');
    await assert.rejects(saveIdentity(identity, pubOnly), code('ERR_FILE_EXISTS'));
    await assert.rejects(stat(pubOnly), { code: 'ENOENT' });

    await saveIdentity(other, path, { overwrite: true });
    assert.equal((await loadIdentity(path)).fingerprint, other.fingerprint);
    assert.equal(fingerprint(await readFile(`${path}.pub`, 'utf8')), other.fingerprint);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });

  it('refuses a private key file that others can read, and says to chmod 600', async () => {
    const path = join(dir, 'too-open');
    await saveIdentity(identity, path);
    for (const mode of [0o644, 0o640, 0o604, 0o610]) {
      await chmod(path, mode);
      await assert.rejects(loadIdentity(path), (error: unknown) => {
        assert.ok(isNetcryptError(error, 'ERR_BAD_KEY'));
        assert.match(error.message, /chmod 600/);
        assert.ok(error.message.includes(path));
        return true;
      });
    }
    await chmod(path, 0o400);
    assert.equal((await loadIdentity(path)).fingerprint, identity.fingerprint);
  });

  it('reports a missing file as a file error and a non-key as a bad key', async () => {
    await assert.rejects(loadIdentity(join(dir, 'missing')), code('ERR_FILE_IO'));
    const garbage = join(dir, 'garbage');
    await writeFile(garbage, 'not a key', { mode: 0o600 });
    await assert.rejects(loadIdentity(garbage), code('ERR_BAD_KEY'));
  });

  it('refuses a FIFO at once, without waiting for a writer, and refuses devices, folders and symbolic links', { timeout: 30_000 }, async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    // Without O_NONBLOCK this open waits for a writer forever; nothing here ever writes.
    await assert.rejects(loadIdentity(fifo), (error: unknown) => {
      assert.ok(isNetcryptError(error, 'ERR_BAD_KEY'));
      assert.match(error.message, /not a regular file/);
      return true;
    });
    await assert.rejects(loadIdentity('/dev/null'), code('ERR_BAD_KEY'));
    await assert.rejects(loadIdentity(dir), code('ERR_BAD_KEY'));
    const target = join(dir, 'link-target');
    await saveIdentity(identity, target);
    const link = join(dir, 'link');
    await symlink(target, link);
    await assert.rejects(loadIdentity(link), (error: unknown) => {
      assert.ok(isNetcryptError(error, 'ERR_BAD_KEY'));
      assert.match(error.message, /symbolic link/);
      return true;
    });
    assert.equal((await loadIdentity(target)).fingerprint, identity.fingerprint);
  });

  it('loadOrCreateIdentity creates a 0600 key once, then loads it, and refuses one readable by others', async () => {
    const path = join(dir, 'created', 'id');
    await mkdir(dirname(path));
    const created = await loadOrCreateIdentity(path, { modulusLength: 2048 });
    assert.equal(created.modulusLength, 2048);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(`${path}.pub`)).mode & 0o777, 0o644);
    assert.equal((await loadOrCreateIdentity(path)).fingerprint, created.fingerprint);
    await chmod(path, 0o644);
    await assert.rejects(loadOrCreateIdentity(path), (error: unknown) => isNetcryptError(error, 'ERR_BAD_KEY') && /chmod 600/.test(error.message));
    // A FIFO in its place is refused, not replaced and not waited on.
    const fifo = join(dir, 'created', 'fifo');
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    await assert.rejects(loadOrCreateIdentity(fifo), code('ERR_BAD_KEY'));
  });

  it('loadOrCreateIdentity called twice at once gives both callers the one key on disk', async () => {
    const path = join(dir, 'raced');
    const [a, b] = await Promise.all([loadOrCreateIdentity(path, { modulusLength: 2048 }), loadOrCreateIdentity(path, { modulusLength: 2048 })]);
    assert.equal(a.fingerprint, b.fingerprint);
    assert.equal((await loadIdentity(path)).fingerprint, a.fingerprint);
  });

  it('identityFromPrivateKey accepts PKCS#8 and PKCS#1 PEM and rejects the rest', async () => {
    const pkcs8 = identity.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const pkcs1 = identity.privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    assert.equal(identityFromPrivateKey(pkcs8).fingerprint, identity.fingerprint);
    assert.equal(identityFromPrivateKey(pkcs1).fingerprint, identity.fingerprint);
    const encrypted = identity.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' }) as string;
    assert.throws(() => identityFromPrivateKey(encrypted), code('ERR_BAD_KEY'));
    assert.throws(() => identityFromPrivateKey(publicKeyPem(identity.publicKey)), code('ERR_BAD_KEY'));
    assert.throws(() => identityFromPrivateKey(identity.publicKey), code('ERR_BAD_KEY'));
    const small = await generateKeyPairAsync('rsa', { modulusLength: 1024 });
    assert.throws(() => identityFromPrivateKey(small.privateKey), code('ERR_BAD_KEY'));
    assert.throws(() => identityFromPrivateKey(createPrivateKey(small.privateKey.export({ format: 'pem', type: 'pkcs8' }))), code('ERR_BAD_KEY'));
  });
});

describe('parsePeerPublicKey', () => {
  it('accepts an RSA SPKI as DER and as PEM', () => {
    assert.equal(fingerprint(parsePeerPublicKey(identity.publicKeyDer)), identity.fingerprint);
    assert.equal(fingerprint(parsePeerPublicKey(publicKeyPem(identity.publicKey))), identity.fingerprint);
    assert.equal(fingerprint(parsePeerPublicKey(publicKeyPem(identity.publicKey).replaceAll('\n', '\r\n'))), identity.fingerprint);
  });

  it('rejects EC, RSA-PSS, Ed25519, 1024-bit and exponent-3 keys', async () => {
    const [ec, pss, ed, small, e3] = await Promise.all([
      generateKeyPairAsync('ec', { namedCurve: 'P-256' }),
      generateKeyPairAsync('rsa-pss', { modulusLength: 2048 }),
      generateKeyPairAsync('ed25519'),
      generateKeyPairAsync('rsa', { modulusLength: 1024 }),
      generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 3 }),
    ]);
    for (const [name, pair] of Object.entries({ ec, pss, ed, small, e3 })) {
      const der = pair.publicKey.export({ format: 'der', type: 'spki' });
      assert.throws(() => parsePeerPublicKey(der), code('ERR_BAD_KEY'), name);
      assert.throws(() => parsePeerPublicKey(publicKeyPem(pair.publicKey)), code('ERR_BAD_KEY'), name);
    }
  });

  it('rejects garbage, trailing bytes, other PEM blocks and oversize input before parsing', () => {
    const der = identity.publicKeyDer;
    const pem = publicKeyPem(identity.publicKey);
    const inputs: [string, Uint8Array | string][] = [
      ['empty', Buffer.alloc(0)],
      ['random bytes', randomBytes(294)],
      ['truncated', der.subarray(0, der.length - 1)],
      ['trailing byte', Buffer.concat([der, Buffer.of(0)])],
      ['PKCS#1 DER', identity.publicKey.export({ format: 'der', type: 'pkcs1' })],
      ['oversize DER', Buffer.alloc(1025)],
      ['private key PEM', identity.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string],
      ['PKCS#1 PEM', identity.publicKey.export({ format: 'pem', type: 'pkcs1' }) as string],
      ['two blocks', pem + pem],
      ['not PEM', 'hello'],
      ['oversize PEM', pem + ' '.repeat(4096)],
    ];
    for (const [name, input] of inputs) assert.throws(() => parsePeerPublicKey(input), code('ERR_BAD_KEY'), name);
  });
});

describe('processIdentity', () => {
  it('is one identity for the whole process, generated once', async () => {
    const [a, b] = await Promise.all([processIdentity(), processIdentity()]);
    assert.equal(a, b);
    assert.equal(await processIdentity(), a);
    assert.equal(a.modulusLength, 3072);
  });
});
