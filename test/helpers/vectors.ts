/** Reads the repository's vector files: Wycheproof's copies (test/vectors/wycheproof) and its own. */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Wycheproof's files, copied unchanged with their licence (test/vectors/wycheproof/SOURCE.md). */
export const wycheproofDir = fileURLToPath(new URL('test/vectors/wycheproof/', `file://${repoRoot}`));

export const hex = (s: string): Buffer => Buffer.from(s, 'hex');

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid' | 'acceptable';
  [field: string]: unknown;
}

export interface WycheproofGroup {
  keySize?: number;
  tagSize?: number;
  tests: WycheproofTest[];
}

export interface WycheproofFile {
  numberOfTests: number;
  testGroups: WycheproofGroup[];
}

export function readShared(name: string): WycheproofFile {
  return JSON.parse(readFileSync(`${wycheproofDir}/${name}`, 'utf8')) as WycheproofFile;
}

export function readRepoVectors<T>(name: string): T {
  return JSON.parse(readFileSync(`${repoRoot}test/vectors/${name}`, 'utf8')) as T;
}

export interface EnvelopeVectors {
  valid: { tcId: number; comment: string; wrappedKey: string; iv: string; ciphertext: string; tag: string; encoded: string }[];
  invalid: { tcId: number; comment: string; encoded: string }[];
}
