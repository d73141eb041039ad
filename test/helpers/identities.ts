import { type Identity, generateIdentity } from '../../src/keys/identity.ts';

let cache: Promise<Identity[]> | undefined;

/** Three 2048-bit identities shared by a test file (generation is the slow part of a test run). */
export function testIdentities(): Promise<Identity[]> {
  cache ??= Promise.all([1, 2, 3].map(() => generateIdentity({ modulusLength: 2048 })));
  return cache;
}
