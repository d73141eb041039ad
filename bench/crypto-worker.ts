/**
 * One process's measurements for bench/crypto.ts: seal and open throughput
 * per suite, subject and size, printed as JSON. Subjects run interleaved so
 * that a burst of machine noise hits all of them rather than one.
 */

import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { cbc, gcm } from '@noble/ciphers/aes.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { loadBackend } from '../src/backend/index.ts';
import { timeLoop } from './stats.ts';

export type Suite = 'a256cbc-hs512' | 'a256gcm';
type SealFn = (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array) => Uint8Array;
interface Subject {
  name: string;
  seal: SealFn;
  open: SealFn;
}

function al(aad: Uint8Array): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(aad.length * 8));
  return out;
}

/** A256CBC-HS512 written straight on node:crypto: the floor the native backend is held to. */
const rawNodeCbc: Subject = {
  name: 'raw node:crypto',
  seal(key, iv, aad, pt) {
    const c = createCipheriv('aes-256-cbc', key.subarray(32), iv);
    const ct = Buffer.concat([c.update(pt), c.final()]);
    const tag = createHmac('sha512', key.subarray(0, 32)).update(aad).update(iv).update(ct).update(al(aad)).digest();
    return Buffer.concat([ct, tag.subarray(0, 32)]);
  },
  open(key, iv, aad, sealed) {
    const ct = sealed.subarray(0, -32);
    const tag = createHmac('sha512', key.subarray(0, 32)).update(aad).update(iv).update(ct).update(al(aad)).digest();
    if (!timingSafeEqual(tag.subarray(0, 32), sealed.subarray(-32))) throw new Error('tag');
    const d = createDecipheriv('aes-256-cbc', key.subarray(32), iv);
    return Buffer.concat([d.update(ct), d.final()]);
  },
};

/** A256CBC-HS512 written straight on @noble: the floor the pure backend is held to. */
const rawNobleCbc: Subject = {
  name: 'raw @noble',
  seal(key, iv, aad, pt) {
    const ct = cbc(key.subarray(32), iv).encrypt(pt);
    const tag = hmac.create(sha512, key.subarray(0, 32)).update(aad).update(iv).update(ct).update(al(aad)).digest();
    const out = new Uint8Array(ct.length + 32);
    out.set(ct);
    out.set(tag.subarray(0, 32), ct.length);
    return out;
  },
  open(key, iv, aad, sealed) {
    const ct = sealed.subarray(0, -32);
    const tag = hmac.create(sha512, key.subarray(0, 32)).update(aad).update(iv).update(ct).update(al(aad)).digest();
    if (!equalBytes(tag.subarray(0, 32), sealed.subarray(-32))) throw new Error('tag');
    return cbc(key.subarray(32), iv).decrypt(ct);
  },
};

/** AES-256-GCM straight on node:crypto (AES-NI, PCLMULQDQ). */
const rawNodeGcm: Subject = {
  name: 'raw node:crypto',
  seal(key, nonce, aad, pt) {
    const c = createCipheriv('aes-256-gcm', key, nonce).setAAD(aad);
    return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
  },
  open(key, nonce, aad, sealed) {
    const d = createDecipheriv('aes-256-gcm', key, nonce).setAAD(aad).setAuthTag(sealed.subarray(-16));
    return Buffer.concat([d.update(sealed.subarray(0, -16)), d.final()]);
  },
};

/** AES-256-GCM straight on @noble/ciphers. */
const rawNobleGcm: Subject = {
  name: 'raw @noble',
  seal: (key, nonce, aad, pt) => gcm(key, nonce, aad).encrypt(pt),
  open: (key, nonce, aad, sealed) => gcm(key, nonce, aad).decrypt(sealed),
};

const sizes = (process.argv[2] ?? '1024,65536,1048576').split(',').map(Number);
const msPerCase = Number(process.argv[3] ?? 300);

const suites: { suite: Suite; keyBytes: number; nonceBytes: number; subjects: Subject[] }[] = [
  { suite: 'a256cbc-hs512', keyBytes: 64, nonceBytes: 16, subjects: [rawNodeCbc, rawNobleCbc] },
  { suite: 'a256gcm', keyBytes: 32, nonceBytes: 12, subjects: [rawNodeGcm, rawNobleGcm] },
];
for (const name of ['native', 'wasm', 'pure'] as const) {
  const backend = await loadBackend(name);
  suites[0]!.subjects.push({ name, seal: backend.seal, open: backend.open });
  suites[1]!.subjects.push({ name, seal: backend.gcmSeal, open: backend.gcmOpen });
}

const aad = randomBytes(24);
const results: { suite: Suite; subject: string; size: number; op: 'seal' | 'open'; wallMBps: number; cpuMBps: number }[] = [];

for (const { suite, keyBytes, nonceBytes, subjects } of suites) {
  const key = randomBytes(keyBytes);
  const nonce = randomBytes(nonceBytes);
  for (const size of sizes) {
    const plaintext = randomBytes(size);
    const sealed = subjects[0]!.seal(key, nonce, aad, plaintext);
    for (const subject of subjects) {
      // Warm up so V8 has optimised the path before timing.
      timeLoop(50, () => subject.open(key, nonce, aad, subject.seal(key, nonce, aad, plaintext)));
    }
    for (const op of ['seal', 'open'] as const) {
      for (const subject of subjects) {
        const body = op === 'seal' ? () => subject.seal(key, nonce, aad, plaintext) : () => subject.open(key, nonce, aad, sealed);
        const { iterations, wallMs, cpuMs } = timeLoop(msPerCase, body);
        const megabytes = (iterations * size) / 1e6;
        results.push({ suite, subject: subject.name, size, op, wallMBps: megabytes / (wallMs / 1000), cpuMBps: megabytes / (cpuMs / 1000) });
      }
    }
  }
}

process.stdout.write(JSON.stringify(results));
