/**
 * Issue 10, finding 1: one lane-1 message of arrays of empty maps killed a
 * receiver. A hostile server sends such messages to a receiver running in its
 * own process with a 256 MiB heap: it must refuse each with the documented
 * code, keep its heap small, and exit cleanly.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import type { SecureChannel } from '../src/channel/secure-channel.ts';
import { ErrorCode } from '../src/errors.ts';
import { CONTROL_LANE, MAX_CONTROL_MESSAGE_BYTES } from '../src/files/file-messages.ts';
import type { Identity } from '../src/keys/identity.ts';
import { createServer } from '../src/protocol/server.ts';
import { MessageAssembler } from '../src/wire/messages.ts';
import { MAX_RECORD_PLAINTEXT } from '../src/wire/records.ts';
import { removeDir, tempDir } from './helpers/files-net.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve } from './helpers/net.ts';

const receiverScript = fileURLToPath(new URL('./helpers/control-flood-receiver.ts', import.meta.url));
const MiB = 1024 * 1024;

/**
 * `length` bytes after `prefix`: an array of arrays of empty maps (`dc … dd … 80 80 …`),
 * each inner array of 100 000 — within a per-container limit such as the old decoder's —
 * so a decoder that builds before it checks makes some 16 million objects.
 */
function arraysOfEmptyMaps(length: number, prefix: number[] = []): Uint8Array {
  const bytes = new Uint8Array(length).fill(0x80);
  const inner = 5 + 100_000;
  const body = length - prefix.length - 3;
  let full = Math.floor(body / inner);
  let rest = body - full * inner;
  if (rest < 5) [full, rest] = [full - 1, rest + inner];
  const header32 = (count: number) => [0xdd, count >>> 24, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff];
  bytes.set([...prefix, 0xdc, (full + 1) >> 8, (full + 1) & 0xff]);
  for (let i = 0; i <= full; i++) bytes.set(header32(i < full ? 100_000 : rest - 5), prefix.length + 3 + i * inner);
  return bytes;
}

/** A manifest's first fields, then `entries`: the hostile array sits where entries belong. */
const MANIFEST_HEAD = [0x83, 0xa1, 0x74, 0xa8, ...Buffer.from('manifest'), 0xa2, 0x69, 0x64, 0x01, 0xa7, ...Buffer.from('entries')];

const [identity] = (await testIdentities()) as [Identity];
const dir = await tempDir('flood');
const hostile: Uint8Array[] = [];
const server = createServer({ identity, backend: 'native' }, (channel: SecureChannel) => {
  channel.sendOnLane(CONTROL_LANE, hostile.shift()!).catch(() => {});
});
const port = await serve(server);
after(() => removeDir(dir));

async function receiverFacing(message: Uint8Array): Promise<{ code: string; heapUsedBytes: number; maxRssBytes: number }> {
  hostile.push(message);
  const { stdout } = await promisify(execFile)(process.execPath, ['--max-old-space-size=256', '--import', 'tsx', receiverScript, String(port), identity.fingerprint, dir]);
  return JSON.parse(stdout);
}

describe('a flood of empty maps on the file-control lane', () => {
  it('a message above the lane cap is refused with ERR_FRAME_TOO_LARGE while it arrives, in a process with a 256 MiB heap', async (t) => {
    const report = await receiverFacing(arraysOfEmptyMaps(MAX_CONTROL_MESSAGE_BYTES + 1));
    t.diagnostic(JSON.stringify(report));
    assert.equal(report.code, ErrorCode.FRAME_TOO_LARGE);
    assert.ok(report.heapUsedBytes < 64 * MiB, `heap in use ${report.heapUsedBytes}`);
    assert.deepEqual(await readdir(dir), []);
  });

  it('a 16 MiB manifest whose entries are empty maps is refused with ERR_PROTOCOL at its first entry', async (t) => {
    const report = await receiverFacing(arraysOfEmptyMaps(MAX_CONTROL_MESSAGE_BYTES, MANIFEST_HEAD));
    t.diagnostic(JSON.stringify(report));
    assert.equal(report.code, ErrorCode.PROTOCOL);
    // The message itself is 16 MiB outside the heap; what the decoder built is next to nothing.
    assert.ok(report.heapUsedBytes < 64 * MiB, `heap in use ${report.heapUsedBytes}`);
    assert.deepEqual(await readdir(dir), []);
  });

  it('the assembler applies a lane’s own limit to fragments and batch entries alike, above or below the channel limit', () => {
    const assembler = new MessageAssembler(4 * MAX_RECORD_PLAINTEXT);
    assembler.limitLane(1, MAX_RECORD_PLAINTEXT + 10);
    assembler.push({ kind: 'fragment', lane: 1, final: false }, Buffer.alloc(MAX_RECORD_PLAINTEXT));
    assert.throws(() => assembler.push({ kind: 'fragment', lane: 1, final: false }, Buffer.alloc(MAX_RECORD_PLAINTEXT)), { code: 'ERR_FRAME_TOO_LARGE' });
    const small = new MessageAssembler(1 << 20);
    small.limitLane(1, 4);
    assert.equal(small.push({ kind: 'batch', lane: 1 }, Buffer.from([0, 0, 0, 4, 1, 2, 3, 4]))[0]!.length, 4);
    assert.throws(() => small.push({ kind: 'batch', lane: 1 }, Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5])), { code: 'ERR_FRAME_TOO_LARGE' });
    // Other lanes keep the channel's limit; a lane's own limit may also be above it (a layer's spec fixes it).
    assert.equal(small.push({ kind: 'batch', lane: 2 }, Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5]))[0]!.length, 5);
    assert.equal(small.laneLimit(0), 1 << 20);
    small.limitLane(2, 1 << 21);
    assert.equal(small.laneLimit(2), 1 << 21);
  });
});
