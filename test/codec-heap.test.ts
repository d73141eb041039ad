/**
 * Issue 10, finding 1: every fixed-schema decoder's memory is bounded by its
 * input. Each decoder reads a few MiB of each hostile shape — placed where
 * it expects a container — and the heap it leaves behind (result or error
 * kept alive) must stay within a small multiple of the input. The old
 * decoders left 40–150 bytes of heap per input byte on these shapes.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadBackend } from '../src/backend/index.ts';
import { NetcryptError } from '../src/errors.ts';
import { decodeControl } from '../src/files/file-messages.ts';
import { decodeHello, decodeKeyMessage } from '../src/wire/handshake-messages.ts';
import { fixstr, heapGrowth, hostileShapes, placed } from './helpers/hostile-msgpack.ts';

const MiB = 1024 * 1024;
/** Heap allowed per input byte, and a fixed allowance for the error object, its stack and the reader. */
const BYTES_PER_INPUT_BYTE = 8;
const FIXED_BYTES = 256 * 1024;

const pure = await loadBackend('pure');
const native = await loadBackend('native');

/** A minimal valid manifest entry: `{ type: 'dir', path: ['a'], mode: 0 }`. */
const DIR_ENTRY = [0x83, ...fixstr('type'), ...fixstr('dir'), ...fixstr('path'), 0x91, ...fixstr('a'), ...fixstr('mode'), 0x00];

/** Each decoder, with the bytes of its message before a container field, and a small valid element of that container. */
const decoders: [string, (bytes: Uint8Array) => unknown, number[], number[]][] = [
  ['envelope (native)', (b) => native.decodeEnvelope(b), [], [0x00]],
  ['envelope (pure)', (b) => pure.decodeEnvelope(b), [0x85, ...fixstr('v'), 0x01, ...fixstr('key')], [0x00]],
  ['hello', decodeHello, [0x88, ...fixstr('t'), ...fixstr('hello'), ...fixstr('p'), ...fixstr('netcrypt'), ...fixstr('v'), 0x01, ...fixstr('role'), ...fixstr('client'), ...fixstr('features')], fixstr('x')],
  ['key message', decodeKeyMessage, [0x82, ...fixstr('t'), ...fixstr('key'), ...fixstr('wrapped')], [0x00]],
  ['control message', decodeControl, [], [0x00]],
  ['manifest entries', decodeControl, [0x83, ...fixstr('t'), ...fixstr('manifest'), ...fixstr('id'), 0x01, ...fixstr('entries')], DIR_ENTRY],
];

function assertBounded(label: string, decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): number {
  const growth = heapGrowth(decode, bytes);
  assert.ok(growth <= BYTES_PER_INPUT_BYTE * bytes.length + FIXED_BYTES, `${label}: ${growth} bytes of heap for ${bytes.length} input bytes`);
  return growth;
}

describe('decoder memory is bounded by the input', () => {
  for (const [name, decode, prefix, element] of decoders) {
    it(`${name}: every hostile shape of 4 MiB is refused, leaving at most ${BYTES_PER_INPUT_BYTE} bytes of heap per input byte`, (t) => {
      // Warm up first so that compiling the decoder is not charged to the first shape.
      for (const shape of Object.values(hostileShapes(1024, element))) heapGrowth(decode, placed(prefix, shape));
      for (const [shapeName, shape] of Object.entries(hostileShapes(4 * MiB, element))) {
        const bytes = placed(prefix, shape);
        assert.throws(() => decode(bytes), NetcryptError, `${name}: ${shapeName}`);
        const growth = assertBounded(`${name}: ${shapeName}`, decode, bytes);
        t.diagnostic(`${shapeName}: ${growth} bytes of heap for ${bytes.length} input bytes`);
      }
    });
  }

  it('the largest manifest a peer may send is bounded too: 100 000 minimal entries accepted, and refused at the last', (t) => {
    const head = [0x83, ...fixstr('t'), ...fixstr('manifest'), ...fixstr('id'), 0x01, ...fixstr('entries'), 0xdc, 0x86, 0xa0];
    const entries = new Uint8Array(100_000 * DIR_ENTRY.length);
    for (let i = 0; i < 100_000; i++) entries.set(DIR_ENTRY, i * DIR_ENTRY.length);
    const valid = placed(head, entries);
    const spoiled = valid.slice();
    spoiled[spoiled.length - 1] = 0xc0; // the last entry's mode is nil
    heapGrowth(decodeControl, valid.subarray(0, 1024));
    const accepted = assertBounded('100 000 entries', decodeControl, valid);
    const refused = assertBounded('100 000 entries, the last bad', decodeControl, spoiled);
    t.diagnostic(`accepted: ${(accepted / valid.length).toFixed(2)} B/B, refused at the end: ${(refused / spoiled.length).toFixed(2)} B/B of ${valid.length}`);
  });

  it('a manifest of deep paths of one-letter folders is refused once it holds too many path components', (t) => {
    // { type: 'dir', path: ['ab' × 64], mode: 0 }: 64 components per entry, as many entries as fit in 16 MiB.
    const deepEntry = [0x83, ...fixstr('type'), ...fixstr('dir'), ...fixstr('path'), 0xdc, 0x00, 0x40];
    for (let i = 0; i < 64; i++) deepEntry.push(...fixstr('ab'));
    deepEntry.push(...fixstr('mode'), 0x00);
    const count = Math.floor((16 * MiB - 64) / deepEntry.length);
    const head = [0x83, ...fixstr('t'), ...fixstr('manifest'), ...fixstr('id'), 0x01, ...fixstr('entries'), 0xdd, ...[24, 16, 8, 0].map((s) => (count >>> s) & 0xff)];
    const entries = new Uint8Array(count * deepEntry.length);
    for (let i = 0; i < count; i++) entries.set(deepEntry, i * deepEntry.length);
    const bytes = placed(head, entries);
    assert.throws(() => decodeControl(bytes), /path components/);
    const growth = assertBounded('deep paths', decodeControl, bytes);
    t.diagnostic(`deep paths: ${(growth / bytes.length).toFixed(2)} B/B of ${bytes.length}`);
  });
});
