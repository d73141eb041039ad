/** Interrupted transfers: the connection is cut at random points, and a new one resumes from the verified prefix. */

import assert from 'node:assert/strict';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, isNetcryptError } from '../src/errors.ts';
import { receiveFile, sendFile } from '../src/files/index.ts';
import { partialName } from '../src/files/file-names.ts';
import { generateIdentity } from '../src/keys/identity.ts';
import { Peers, folderMaker, removeDir, sha256File, tempDir, writeRandomFile } from './helpers/files-net.ts';

const SIZE = 3 * 1024 * 1024 + 12_345;

let peers: Peers;
let work: string;
let source: string;
let digest: string;
/** The receiver's partial file of data.bin, as sent by the tests' one identity. */
let PARTIAL: string;
before(async () => {
  const identity = await generateIdentity({ modulusLength: 2048 });
  peers = await Peers.start(identity);
  work = await tempDir('resume');
  source = join(work, 'data.bin');
  await writeRandomFile(source, SIZE);
  digest = await sha256File(source);
  PARTIAL = partialName('data.bin', { peer: identity.fingerprint, size: SIZE, mtime: (await stat(source)).mtimeMs });
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
});
