/**
 * One process's bare cipher loops for bench/channel.ts: each backend's
 * seal and open of one suite on records of the given size, in a loop, with
 * no framing and no socket — the cryptographic work each side of a bulk
 * transfer cannot avoid. Prints JSON: CPU milliseconds per MB and MB/s.
 *
 *   node --import tsx bench/cipher-loops.ts <record bytes> <ms per loop>
 */

import { randomBytes } from 'node:crypto';
import { loadBackend } from '../src/backend/index.ts';
import type { BackendName } from '../src/backend/types.ts';
import { timeLoop } from './stats.ts';

export interface CipherLoop {
  backend: BackendName;
  suite: 'a256gcm' | 'a256cbc-hs512';
  op: 'seal' | 'open';
  cpuMsPerMB: number;
  MBps: number;
}

const recordBytes = Number(process.argv[2] ?? 65536);
const msPerLoop = Number(process.argv[3] ?? 1000);
const plaintext = randomBytes(recordBytes);
const aad = randomBytes(9);
const results: CipherLoop[] = [];

for (const name of ['native', 'wasm', 'pure'] as const) {
  const backend = await loadBackend(name);
  const suites = [
    { suite: 'a256gcm', key: randomBytes(32), nonce: randomBytes(12), seal: backend.gcmSeal, open: backend.gcmOpen },
    { suite: 'a256cbc-hs512', key: randomBytes(64), nonce: randomBytes(16), seal: backend.seal, open: backend.open },
  ] as const;
  for (const { suite, key, nonce, seal, open } of suites) {
    const sealed = seal(key, nonce, aad, plaintext);
    const bodies = { seal: () => seal(key, nonce, aad, plaintext), open: () => open(key, nonce, aad, sealed) };
    for (const op of ['seal', 'open'] as const) {
      timeLoop(Math.min(200, msPerLoop / 4), bodies[op]); // V8 optimises the path before it is timed
      const { iterations, wallMs, cpuMs } = timeLoop(msPerLoop, bodies[op]);
      const megabytes = (iterations * recordBytes) / 1e6;
      results.push({ backend: name, suite, op, cpuMsPerMB: cpuMs / megabytes, MBps: megabytes / (wallMs / 1000) });
    }
  }
}

process.stdout.write(JSON.stringify(results));
