/**
 * Files the receiver controls: an interrupted folder transfer run again
 * finishes (files already there and identical are kept, not re-sent, and
 * folder modes end as sent), and every offer passes the receiver's limits
 * and its onOffer hook before anything is written.
 */

import assert from 'node:assert/strict';
import { chmod, link, mkdir, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '../src/errors.ts';
import { type FileOffer, receiveFile, receiveFiles, sendDirectory, sendFile, sendFiles } from '../src/files/index.ts';
import { type Identity, generateIdentity } from '../src/keys/identity.ts';
import { Peers, folderMaker, hasCode, listTree, pending, removeDir, sha256File, tempDir, writeRandomFile } from './helpers/files-net.ts';

const BIG = 3 * 1024 * 1024;

let identity: Identity;
let peers: Peers;
let work: string;
/** A tree: photos/ (0750) holding a.txt, big.bin, and locked/ (0555) holding c.txt. */
let tree: string;
before(async () => {
  identity = await generateIdentity({ modulusLength: 2048 });
  peers = await Peers.start(identity);
  work = await tempDir('control');
  tree = join(work, 'src', 'photos');
  await mkdir(join(tree, 'locked'), { recursive: true });
  await writeFile(join(tree, 'a.txt'), 'first file, small');
  await writeRandomFile(join(tree, 'big.bin'), BIG);
  await writeFile(join(tree, 'locked', 'c.txt'), 'inside a read-only folder');
  await chmod(join(tree, 'locked'), 0o555);
  await chmod(tree, 0o750);
});
after(async () => {
  await peers.close();
  await removeDir(work);
});

const target = folderMaker(() => work);

async function sameTree(dir: string): Promise<void> {
  assert.deepEqual(await listTree(join(dir, 'photos')), await listTree(tree));
  for (const name of ['a.txt', 'big.bin', 'locked/c.txt']) assert.equal(await sha256File(join(dir, 'photos', name)), await sha256File(join(tree, name)), name);
  assert.equal((await stat(join(dir, 'photos'))).mode & 0o777, 0o750);
  assert.equal((await stat(join(dir, 'photos', 'locked'))).mode & 0o777, 0o555);
}

describe('an interrupted folder transfer, run again', () => {
  it('finishes: files that arrived are kept (not re-sent), the rest resumes, folder modes end as sent', async () => {
    const dir = await target();
    // Cut inside big.bin: a.txt has arrived by then.
    const cut = await peers.pair({ cutAfter: BIG / 2 });
    const first = await Promise.allSettled([receiveFiles(cut.receiver, { dir }), sendDirectory(cut.sender, tree)]);
    assert.ok(first.every((result) => result.status === 'rejected'), 'the cut fails both sides');
    assert.equal(await readFile(join(dir, 'photos', 'a.txt'), 'utf8'), 'first file, small');
    assert.equal((await stat(join(dir, 'photos', 'locked'))).mode & 0o777, 0o755, 'left writable by the failed run');

    const pair = await peers.pair();
    const [received, sent] = await Promise.all([receiveFiles(pair.receiver, { dir }), sendDirectory(pair.sender, tree)]);
    const byName = new Map(received.map((file) => [file.name, file]));
    assert.equal(byName.get('photos/a.txt')!.resumedFrom, 'first file, small'.length, 'a.txt kept whole');
    assert.equal(sent.files.find((file) => file.name === 'photos/a.txt')!.resumedFrom, 'first file, small'.length);
    assert.ok(byName.get('photos/big.bin')!.resumedFrom > 0, 'big.bin resumed from its partial file');
    await sameTree(dir);
  });

  it('a complete folder sent again with overwrite: true re-sends nothing', async () => {
    const dir = await target();
    let pair = await peers.pair();
    await Promise.all([receiveFiles(pair.receiver, { dir }), sendDirectory(pair.sender, tree)]);
    pair = await peers.pair();
    const [received] = await Promise.all([receiveFiles(pair.receiver, { dir, overwrite: true }), sendDirectory(pair.sender, tree)]);
    for (const file of received) assert.equal(file.resumedFrom, file.size, file.name);
    await sameTree(dir);
  });

  it('and without overwrite it succeeds too, keeping every file', async () => {
    const dir = await target();
    let pair = await peers.pair();
    await Promise.all([receiveFiles(pair.receiver, { dir }), sendDirectory(pair.sender, tree)]);
    pair = await peers.pair();
    const [received] = await Promise.all([receiveFiles(pair.receiver, { dir }), sendDirectory(pair.sender, tree)]);
    for (const file of received) assert.equal(file.resumedFrom, file.size, file.name);
    await sameTree(dir);
  });
});

describe('a file already under the final name', () => {
  /** A source file and a file of the same size and mtime but other content at the receiver. */
  async function lookAlike(content: string, other: string): Promise<{ source: string; dir: string }> {
    const dir = await target();
    const source = join(await target('src'), 'note.txt');
    await writeFile(source, content);
    await writeFile(join(dir, 'note.txt'), other);
    const { mtime } = await stat(source);
    await utimes(join(dir, 'note.txt'), mtime, mtime);
    return { source, dir };
  }

  it('of the same size and mtime but other content is ERR_FILE_EXISTS, and untouched', async () => {
    const { source, dir } = await lookAlike('the real content', 'a look-alike!!!!');
    const pair = await peers.pair();
    const received = pending(receiveFile(pair.receiver, { dir }));
    await assert.rejects(sendFile(pair.sender, source), hasCode(ErrorCode.FILE_EXISTS));
    await assert.rejects(received, hasCode(ErrorCode.FILE_EXISTS));
    assert.equal(await readFile(join(dir, 'note.txt'), 'utf8'), 'a look-alike!!!!');
    assert.deepEqual(await readdir(dir), ['note.txt'], 'no partial file left');
  });

  it('of the same size and mtime but other content is replaced with overwrite: true', async () => {
    const { source, dir } = await lookAlike('the real content', 'a look-alike!!!!');
    const pair = await peers.pair();
    const [received] = await Promise.all([receiveFile(pair.receiver, { dir, overwrite: true }), sendFile(pair.sender, source)]);
    assert.equal(received.resumedFrom, 0);
    assert.equal(await readFile(join(dir, 'note.txt'), 'utf8'), 'the real content');
  });

  it('identical but with a second link is not kept (a planted hard link): ERR_FILE_EXISTS', async () => {
    const { source, dir } = await lookAlike('same bytes', 'same bytes');
    await link(join(dir, 'note.txt'), join(dir, '..', `elsewhere-${Date.now()}`));
    const pair = await peers.pair();
    const received = pending(receiveFile(pair.receiver, { dir }));
    await assert.rejects(sendFile(pair.sender, source), hasCode(ErrorCode.FILE_EXISTS));
    await assert.rejects(received, hasCode(ErrorCode.FILE_EXISTS));
  });

  it('identical is kept without being written or chmod-ed', async () => {
    const { source, dir } = await lookAlike('same bytes', 'same bytes');
    await chmod(join(dir, 'note.txt'), 0o600);
    await chmod(source, 0o644);
    const before = await stat(join(dir, 'note.txt'));
    const pair = await peers.pair();
    const [received, sent] = await Promise.all([receiveFile(pair.receiver, { dir }), sendFile(pair.sender, source)]);
    assert.equal(received.resumedFrom, received.size);
    assert.equal(sent.resumedFrom, sent.size);
    const now = await stat(join(dir, 'note.txt'));
    assert.equal(now.ino, before.ino);
    assert.equal(now.mode & 0o777, 0o600);
  });
});

describe('the receiver sees the offer first', () => {
  it('onOffer gets names, sizes, count, total and the sender’s fingerprint; refusing is ERR_FILE_REFUSED on both sides, nothing written', async () => {
    const dir = await target();
    const pair = await peers.pair();
    let seen: FileOffer | undefined;
    const received = pending(
      receiveFiles(pair.receiver, {
        dir,
        onOffer: async (offer) => {
          seen = offer;
          return false;
        },
      }),
    );
    await assert.rejects(sendDirectory(pair.sender, tree), (error) => hasCode(ErrorCode.FILE_REFUSED)(error) && /^receiver reported:/.test((error as Error).message));
    await assert.rejects(received, hasCode(ErrorCode.FILE_REFUSED));
    assert.deepEqual(await readdir(dir), []);
    assert.equal(seen!.peer, pair.sender.localFingerprint);
    assert.deepEqual(seen!.files, [
      { name: 'photos/a.txt', size: 17 },
      { name: 'photos/big.bin', size: BIG },
      { name: 'photos/locked/c.txt', size: 25 },
    ]);
    assert.deepEqual(seen!.folders, ['photos', 'photos/locked']);
    assert.equal(seen!.count, 3);
    assert.equal(seen!.total, 17 + BIG + 25);

    // The channel goes on: the next offer, accepted, arrives.
    const [file] = await Promise.all([receiveFile(pair.receiver, { dir, onOffer: () => true }), sendFile(pair.sender, join(tree, 'a.txt'))]);
    assert.equal(file.name, 'a.txt');
  });

  it('an onOffer hook that throws refuses the offer', async () => {
    const dir = await target();
    const pair = await peers.pair();
    const received = pending(
      receiveFile(pair.receiver, {
        dir,
        onOffer: () => {
          throw new Error('no thanks');
        },
      }),
    );
    await assert.rejects(sendFile(pair.sender, join(tree, 'a.txt')), hasCode(ErrorCode.FILE_REFUSED));
    await assert.rejects(received, hasCode(ErrorCode.FILE_REFUSED));
    assert.deepEqual(await readdir(dir), []);
  });

  const limits: [string, { maxFiles?: number; maxBytes?: number }][] = [
    ['maxFiles', { maxFiles: 2 }],
    ['maxBytes', { maxBytes: BIG }],
  ];
  for (const [what, limit] of limits) {
    it(`an offer over ${what} is ERR_FILE_REFUSED before anything is written`, async () => {
      const dir = await target();
      const pair = await peers.pair();
      const received = pending(receiveFiles(pair.receiver, { dir, ...limit }));
      await assert.rejects(sendDirectory(pair.sender, tree), hasCode(ErrorCode.FILE_REFUSED));
      await assert.rejects(received, hasCode(ErrorCode.FILE_REFUSED));
      assert.deepEqual(await readdir(dir), []);
    });
  }

  it('an offer at exactly the limits is taken', async () => {
    const dir = await target();
    const pair = await peers.pair();
    const paths = [join(tree, 'a.txt'), join(tree, 'locked', 'c.txt')];
    const [received] = await Promise.all([receiveFiles(pair.receiver, { dir, maxFiles: 2, maxBytes: 42 }), sendFiles(pair.sender, paths)]);
    assert.equal(received.length, 2);
  });

  it('limits that are not non-negative integers are refused', async () => {
    const pair = await peers.pair();
    await assert.rejects(receiveFiles(pair.receiver, { maxFiles: -1 }), hasCode(ErrorCode.INVALID_ARGUMENT));
    await assert.rejects(receiveFiles(pair.receiver, { maxBytes: 1.5 }), hasCode(ErrorCode.INVALID_ARGUMENT));
  });
});
