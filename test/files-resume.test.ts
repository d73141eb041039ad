/** Interrupted transfers: the connection is cut at random points, and a new one resumes from the verified prefix. */

import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, isNetcryptError } from '../src/errors.ts';
import { receiveFile, sendFile } from '../src/files/index.ts';
import { partialName } from '../src/files/file-names.ts';
import { type Identity, generateIdentity } from '../src/keys/identity.ts';
import { RawSender } from './helpers/files-hostile.ts';
import { Peers, folderMaker, hasCode, pending, removeDir, sha256File, tempDir, writeRandomFile } from './helpers/files-net.ts';

const SIZE = 3 * 1024 * 1024 + 12_345;

let peers: Peers;
let work: string;
let source: string;
let digest: string;
/** The receiver's partial file of data.bin, as sent by the tests' one identity. */
let PARTIAL: string;
/** The source's mtime as the sender announces it. */
let MTIME: number;
let stranger: Identity;
before(async () => {
  const identity = await generateIdentity({ modulusLength: 2048 });
  stranger = await generateIdentity({ modulusLength: 2048 });
  peers = await Peers.start(identity);
  work = await tempDir('resume');
  source = join(work, 'data.bin');
  await writeRandomFile(source, SIZE);
  digest = await sha256File(source);
  MTIME = Math.floor((await stat(source)).mtimeMs);
  PARTIAL = partialName('data.bin', { peer: identity.fingerprint, size: SIZE, mtime: MTIME });
});
after(async () => {
  await peers.close();
  await removeDir(work);
});

const target = folderMaker(() => work);

/** One attempt on a fresh connection; both sides' outcomes. */
async function attempt(dir: string, cutAfter?: number) {
  const pair = await peers.pair({ cutAfter });
  const [received, sent] = await Promise.allSettled([receiveFile(pair.receiver, { dir }), sendFile(pair.sender, source)]);
  return { received, sent };
}

const lost = (result: PromiseSettledResult<unknown>) =>
  result.status === 'rejected' && isNetcryptError(result.reason) && [ErrorCode.TRUNCATED, ErrorCode.CLOSED].includes(result.reason.code as 'ERR_CLOSED');

describe('resume', () => {
  it('a cut at any point, then a new connection, gives a byte-identical file (property)', async () => {
    let resumed = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 4096, max: SIZE + 64 * 1024 }), async (cutAfter) => {
        const dir = await target();
        const first = await attempt(dir, cutAfter);
        let held = 0;
        if (first.received.status === 'rejected') {
          assert.ok(lost(first.received) && lost(first.sent), `a cut is reported as a lost connection, got ${String(first.received.reason)}`);
          const left = await readdir(dir);
          assert.ok(!left.includes('data.bin'), 'nothing under the final name after a cut');
          if (left.includes(PARTIAL)) held = (await stat(join(dir, PARTIAL))).size;
          const second = await attempt(dir);
          assert.equal(second.received.status, 'fulfilled', String((second.received as PromiseRejectedResult).reason));
          assert.equal(second.sent.status, 'fulfilled');
          const got = (second.received as PromiseFulfilledResult<{ resumedFrom: number }>).value;
          assert.equal(got.resumedFrom, held, 'resumes exactly from what the partial held');
          if (held > 0) resumed++;
        } else {
          assert.equal(first.sent.status, 'fulfilled');
        }
        assert.equal(await sha256File(join(dir, 'data.bin')), digest);
        assert.deepEqual(await readdir(dir), ['data.bin']);
      }),
      { numRuns: 16 },
    );
    assert.ok(resumed > 0, 'some runs resumed from a non-empty prefix');
  });

  it('a partial that is not a prefix of the file is discarded: the transfer starts over', async () => {
    const dir = await target();
    await writeFile(join(dir, PARTIAL), Buffer.alloc(100_000, 1));
    const { received } = await attempt(dir);
    assert.equal(received.status, 'fulfilled');
    assert.equal((received as PromiseFulfilledResult<{ resumedFrom: number }>).value.resumedFrom, 0);
    assert.equal(await sha256File(join(dir, 'data.bin')), digest);
  });

  it('a partial longer than the file starts over and leaves no stale tail', async () => {
    const dir = await target();
    await writeRandomFile(join(dir, PARTIAL), SIZE + 1000);
    const { received } = await attempt(dir);
    assert.equal(received.status, 'fulfilled');
    assert.equal(await sha256File(join(dir, 'data.bin')), digest);
    assert.equal((await stat(join(dir, 'data.bin'))).size, SIZE);
  });

  /** Cuts a transfer of data.bin halfway and returns the length of the partial file it left. */
  async function interrupted(dir: string): Promise<number> {
    const first = await attempt(dir, Math.floor(SIZE / 2));
    assert.ok(lost(first.received), 'the cut is a lost connection');
    const held = (await stat(join(dir, PARTIAL))).size;
    assert.ok(held > 0, 'the cut left a partial file');
    return held;
  }

  it('resume discloses only a hash keyed with a fresh nonce, never the plain SHA-256 of the prefix', async () => {
    const dir = await target();
    const held = await interrupted(dir);
    const partialBytes = await readFile(join(dir, PARTIAL));
    const pair = await peers.pair();
    const raw = new RawSender(pair.sender);
    const received = pending(receiveFile(pair.receiver, { dir }));
    await raw.manifest([{ type: 'file', path: ['data.bin'], size: SIZE, mode: 0o644, mtime: MTIME }]);
    const want = await raw.reply();
    assert.ok(want.t === 'want');
    assert.equal(want.offset, held, 'the same peer, the same file: its partial is offered');
    assert.deepEqual(Buffer.from(want.prefix), createHmac('sha256', want.nonce).update(partialBytes).digest());
    assert.notDeepEqual(Buffer.from(want.prefix), createHash('sha256').update(partialBytes).digest());
    const again = await raw.manifest([{ type: 'file', path: ['data.bin'], size: SIZE, mode: 0o644, mtime: MTIME }]);
    await assert.rejects(received, hasCode(ErrorCode.PROTOCOL), 'a new manifest in the middle of a batch');
    assert.ok(again > 0);
    assert.equal((await stat(join(dir, PARTIAL))).size, held, 'the partial is kept for resume');
  });

  it('another peer offering the same file neither learns of the first peer’s partial nor can claim it (issue 10, finding 5)', async () => {
    const dir = await target();
    const held = await interrupted(dir);
    // The attacker announces the very same name, size and mtime, under its own key.
    const pair = await peers.pair({ identity: stranger });
    const raw = new RawSender(pair.sender);
    const received = pending(receiveFile(pair.receiver, { dir }));
    const id = await raw.manifest([{ type: 'file', path: ['data.bin'], size: SIZE, mode: 0o644, mtime: MTIME }]);
    const want = await raw.reply();
    assert.ok(want.t === 'want');
    assert.equal(want.offset, 0, 'nothing of the first peer’s upload is offered');
    assert.deepEqual(Buffer.from(want.prefix), createHmac('sha256', want.nonce).digest());
    // Claiming the first peer's length anyway, then "extending" it with its own bytes, is a protocol violation.
    await raw.send({ t: 'start', id, index: 0, offset: held });
    await assert.rejects(received, hasCode(ErrorCode.PROTOCOL));
    assert.ok(!(await readdir(dir)).includes('data.bin'), 'nothing under the final name');
    assert.equal((await stat(join(dir, PARTIAL))).size, held, 'the first peer’s partial is untouched');
    // And the first peer still resumes from it.
    const resumed = await attempt(dir);
    assert.equal(resumed.received.status, 'fulfilled');
    assert.equal((resumed.received as PromiseFulfilledResult<{ resumedFrom: number }>).value.resumedFrom, held);
    assert.equal(await sha256File(join(dir, 'data.bin')), digest);
  });

  it('another peer’s upload of the same name gets a partial of its own', async () => {
    const dir = await target();
    await interrupted(dir);
    const pair = await peers.pair({ identity: stranger });
    const [received] = await Promise.allSettled([receiveFile(pair.receiver, { dir }), sendFile(pair.sender, source)]);
    assert.equal(received.status, 'fulfilled');
    assert.equal((received as PromiseFulfilledResult<{ resumedFrom: number }>).value.resumedFrom, 0);
    assert.ok((await readdir(dir)).includes(PARTIAL), 'the first peer’s partial is left for it');
  });
});
