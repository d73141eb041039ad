/**
 * A hostile sender, speaking the file protocol by hand over a real channel,
 * against the real receiver. Whatever it tries, nothing is written outside
 * the target folder and nothing unverified appears under a final name.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { chmod, chown, link, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { ErrorCode } from '../src/errors.ts';
import { displayName } from '../src/files/file-names.ts';
import { receiveFile, receiveFiles, sendFiles } from '../src/files/index.ts';
import { type Identity, generateIdentity } from '../src/keys/identity.ts';
import { RawReceiver, RawSender, dirEntry, fileEntry, partialPath } from './helpers/files-hostile.ts';
import { BAD_NAMES } from './helpers/files-names.ts';
import { type ChannelPair, Peers, hasCode, listTree, pending, removeDir, tempDir } from './helpers/files-net.ts';

let identity: Identity;
let peers: Peers;
let sandbox: string;
let dir: string;
before(async () => {
  identity = await generateIdentity({ modulusLength: 2048 });
  peers = await Peers.start(identity);
  sandbox = await tempDir('hostile');
});
after(async () => {
  await peers.close();
  await removeDir(sandbox);
});

let folders = 0;
beforeEach(async () => {
  // Each test's target folder sits inside a sandbox with a neighbour, so an escape would show.
  const parent = join(sandbox, String(folders++));
  dir = join(parent, 'target');
  await mkdir(dir, { recursive: true });
  await writeFile(join(parent, 'neighbour'), 'untouched');
});

async function sandboxUntouched(): Promise<void> {
  const parent = join(dir, '..');
  assert.deepEqual((await readdir(parent)).sort(), ['neighbour', 'target']);
  assert.equal(await readFile(join(parent, 'neighbour'), 'utf8'), 'untouched');
}

async function rawPair(): Promise<{ pair: ChannelPair; raw: RawSender }> {
  const pair = await peers.pair();
  return { pair, raw: new RawSender(pair.sender) };
}

describe('hostile names', () => {
  it('every bad name is refused with ERR_BAD_FILENAME before a byte is written, on one channel that stays usable', async () => {
    const { pair, raw } = await rawPair();
    for (const name of BAD_NAMES) {
      const received = pending(receiveFile(pair.receiver, { dir }));
      const verdict = await raw.sendFile(name, 4, Buffer.from('evil'));
      assert.deepEqual([verdict.t, 'code' in verdict && verdict.code], ['receive-failed', ErrorCode.BAD_FILENAME], displayName(name));
      await assert.rejects(received, hasCode(ErrorCode.BAD_FILENAME));
      assert.deepEqual(await readdir(dir), [], displayName(name));
    }
    await sandboxUntouched();
    const received = pending(receiveFile(pair.receiver, { dir }));
    assert.equal((await raw.sendFile('fine.txt', 2, Buffer.from('ok'))).t, 'done');
    assert.equal((await received).name, 'fine.txt');
  });

  const batches: [string, ReturnType<typeof fileEntry>[], string][] = [
    ['a traversal inside a folder path', [dirEntry(['d']), fileEntry(['d', '..', 'x'])], ErrorCode.BAD_FILENAME],
    ['an absolute component', [dirEntry(['d']), fileEntry(['d', '/etc'])], ErrorCode.BAD_FILENAME],
    ['a file listed before its folder', [fileEntry(['d', 'x']), dirEntry(['d'])], ErrorCode.PROTOCOL],
    ['a file whose parent is a file', [fileEntry(['d']), fileEntry(['d', 'x'])], ErrorCode.PROTOCOL],
    ['an entry listed twice', [fileEntry(['x']), fileEntry(['x'])], ErrorCode.PROTOCOL],
    ['an empty path', [fileEntry([])], ErrorCode.BAD_FILENAME],
    ['a good entry followed by a bad one', [fileEntry(['good']), fileEntry(['CON'])], ErrorCode.BAD_FILENAME],
  ];
  for (const [what, entries, code] of batches) {
    it(`refuses a batch with ${what} (${code}), writing nothing`, async () => {
      const { pair, raw } = await rawPair();
      const received = pending(receiveFiles(pair.receiver, { dir }));
      await raw.manifest(entries);
      const verdict = await raw.reply();
      assert.deepEqual([verdict.t, 'code' in verdict && verdict.code], ['receive-failed', code]);
      await assert.rejects(received, hasCode(code));
      assert.deepEqual(await readdir(dir), []);
      await sandboxUntouched();
    });
  }
});

describe('symbolic links on the receiving side are never followed', () => {
  it('a link where the batch needs a folder is a conflict', async () => {
    const outside = join(dir, '..', 'outside');
    await mkdir(outside);
    await symlink(outside, join(dir, 'evil'));
    const { pair, raw } = await rawPair();
    const received = pending(receiveFiles(pair.receiver, { dir }));
    await raw.manifest([dirEntry(['evil']), fileEntry(['evil', 'x'], 1)]);
    assert.equal((await raw.reply()).t, 'receive-failed');
    await assert.rejects(received, hasCode(ErrorCode.FILE_EXISTS));
    assert.deepEqual(await readdir(outside), []);
  });

  const MTIME = 1_700_000_000_000;

  it('a symbolic link planted at the partial file’s name is refused (O_NOFOLLOW) before anything is disclosed', async () => {
    const victim = join(dir, '..', 'neighbour');
    const { pair, raw } = await rawPair();
    await symlink(victim, partialPath(dir, pair.sender, 'x', 5, MTIME));
    const received = pending(receiveFile(pair.receiver, { dir }));
    const verdict = await raw.sendFile('x', 5, Buffer.from('owned'), undefined, MTIME);
    assert.deepEqual([verdict.t, 'code' in verdict && verdict.code], ['receive-failed', ErrorCode.FILE_IO]);
    await assert.rejects(received, hasCode(ErrorCode.FILE_IO));
    await sandboxUntouched();
  });

  it('a hard link planted at the partial file’s name is refused: the linked file is not disclosed, written or chmod-ed', async () => {
    const victim = join(dir, '..', 'neighbour');
    await chmod(victim, 0o600);
    const { pair, raw } = await rawPair();
    const size = (await stat(victim)).size + 5;
    await link(victim, partialPath(dir, pair.sender, 'x', size, MTIME));
    const received = pending(receiveFile(pair.receiver, { dir }));
    // The first answer is the refusal: no want, so neither the victim's length nor a hash of it.
    const verdict = await raw.sendFile('x', size, Buffer.from('untouched+evil'), undefined, MTIME);
    assert.deepEqual([verdict.t, 'code' in verdict && verdict.code], ['receive-failed', ErrorCode.FILE_IO]);
    await assert.rejects(received, hasCode(ErrorCode.FILE_IO));
    assert.equal(await readFile(victim, 'utf8'), 'untouched');
    assert.equal((await stat(victim)).mode & 0o777, 0o600);
    assert.equal((await stat(victim)).nlink, 2, 'the planted link is left alone too');
  });

  it('a partial file owned by another user is refused and left alone', async () => {
    const { pair, raw } = await rawPair();
    const planted = partialPath(dir, pair.sender, 'x', 10, MTIME);
    await writeFile(planted, 'other', { mode: 0o644 });
    await chown(planted, 4242, 4242);
    const received = pending(receiveFile(pair.receiver, { dir }));
    const verdict = await raw.sendFile('x', 10, Buffer.from('otherwise!'), undefined, MTIME);
    assert.deepEqual([verdict.t, 'code' in verdict && verdict.code], ['receive-failed', ErrorCode.FILE_IO]);
    await assert.rejects(received, hasCode(ErrorCode.FILE_IO));
    assert.equal(await readFile(planted, 'utf8'), 'other');
    assert.equal((await stat(planted)).uid, 4242);
  });

  it('a FIFO planted at the partial file’s name does not hang the receiver', async () => {
    const { pair, raw } = await rawPair();
    execFileSync('mkfifo', [partialPath(dir, pair.sender, 'x', 5, MTIME)]);
    const received = pending(receiveFile(pair.receiver, { dir }));
    assert.equal((await raw.sendFile('x', 5, Buffer.from('hello'), undefined, MTIME)).t, 'receive-failed');
    await assert.rejects(received, hasCode(ErrorCode.FILE_IO));
  });
});

describe('lying content', () => {
  it('a batch whose second file lies keeps the first, verified, and nothing of the second', async () => {
    const { pair, raw } = await rawPair();
    const received = pending(receiveFiles(pair.receiver, { dir }));
    const id = await raw.manifest([fileEntry(['first'], 3), fileEntry(['second'], 3)]);
    for (const [index, content, hash] of [[0, 'one', undefined], [1, 'two', Buffer.alloc(32)]] as const) {
      assert.equal((await raw.reply()).t, 'want');
      await raw.send({ t: 'start', id, index, offset: 0 });
      await raw.chunk(Buffer.from(content));
      await raw.send({ t: 'end', id, index, sha256: hash ?? createHash('sha256').update(content).digest() });
    }
    assert.equal((await raw.reply()).t, 'receive-failed');
    await assert.rejects(received, hasCode(ErrorCode.FILE_INTEGRITY));
    assert.deepEqual(await readdir(dir), ['first']);
    assert.equal(await readFile(join(dir, 'first'), 'utf8'), 'one');
  });

  const cases: [string, number, Buffer, Buffer | undefined][] = [
    ['more bytes than declared', 10, randomBytes(20), undefined],
    ['fewer bytes than declared, then end', 10, randomBytes(5), undefined],
    ['nothing at all, then end', 10, Buffer.alloc(0), undefined],
    ['the declared size but a wrong hash', 10, randomBytes(10), Buffer.alloc(32)],
  ];
  for (const [what, declared, content, hash] of cases) {
    it(`${what} → ERR_FILE_INTEGRITY, partial removed, no final file`, async () => {
      const { pair, raw } = await rawPair();
      const received = pending(receiveFile(pair.receiver, { dir }));
      const verdict = await raw.sendFile('lie.bin', declared, content, hash);
      assert.deepEqual([verdict.t, 'code' in verdict && verdict.code], ['receive-failed', ErrorCode.FILE_INTEGRITY]);
      await assert.rejects(received, hasCode(ErrorCode.FILE_INTEGRITY));
      assert.deepEqual(await readdir(dir), []);
      // The channel is still usable for an honest file.
      const next = pending(receiveFile(pair.receiver, { dir }));
      assert.equal((await raw.sendFile('honest.bin', 3, Buffer.from('abc'))).t, 'done');
      assert.equal((await next).size, 3);
    });
  }
});

describe('protocol abuse ends the channel with ERR_PROTOCOL', () => {
  async function expectProtocolError(play: (raw: RawSender, id: number) => Promise<void>): Promise<void> {
    const { pair, raw } = await rawPair();
    const received = pending(receiveFile(pair.receiver, { dir }));
    const id = await raw.manifest([fileEntry(['x'], 100_000_000)]);
    assert.equal((await raw.reply()).t, 'want');
    await play(raw, id).catch(() => {});
    await assert.rejects(received, hasCode(ErrorCode.PROTOCOL));
    assert.ok(!(await listTree(dir)).includes('x'), 'no final file');
    await sandboxUntouched();
  }

  it('content beyond the granted credit (memory bound enforced on arrival)', () =>
    expectProtocolError(async (raw, id) => {
      await raw.send({ t: 'start', id, index: 0, offset: 0 });
      // One message larger than any window the receiver grants (it never exceeds 4 MiB).
      await raw.chunk(randomBytes(4 * 1024 * 1024 + 1));
    }));

  it('a start at an offset the receiver did not offer', () =>
    expectProtocolError((raw, id) => raw.send({ t: 'start', id, index: 0, offset: 500 })));

  it('a start for another entry', () => expectProtocolError((raw, id) => raw.send({ t: 'start', id, index: 3, offset: 0 })));

  it('a message of a batch that was never announced', () =>
    expectProtocolError((raw, id) => raw.send({ t: 'start', id: id + 5, index: 0, offset: 0 })));

  it('garbage on the control lane', () => expectProtocolError((raw) => raw.raw(Buffer.from([0xc1, 0x00]))));

  it('an unknown control message', () => expectProtocolError((raw) => raw.raw(encode({ t: 'rm -rf', id: 1 }))));

  it('garbage held by the channel until the receiver starts ends the channel when it is claimed', async () => {
    const { pair, raw } = await rawPair();
    await raw.raw(Buffer.from([0xc1]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(receiveFile(pair.receiver, { dir }), hasCode(ErrorCode.PROTOCOL));
    assert.ok(pair.receiver.closed);
  });

  it('a chunk larger than a quarter of the window, though within credit', () =>
    expectProtocolError(async (raw, id) => {
      await raw.send({ t: 'start', id, index: 0, offset: 0 });
      await raw.chunk(randomBytes(1024 * 1024 + 1));
    }));

  it('an empty chunk', () =>
    expectProtocolError(async (raw, id) => {
      await raw.send({ t: 'start', id, index: 0, offset: 0 });
      await raw.chunk(Buffer.alloc(0));
    }));

  it('an end where the start belongs', () =>
    expectProtocolError((raw, id) => raw.send({ t: 'end', id, index: 0, sha256: Buffer.alloc(32) })));

  it('a new manifest in the middle of a batch', () => expectProtocolError((raw) => raw.manifest([fileEntry(['y'], 1)]).then(() => {})));

  it('the first batch may have any id ≥ 1; a manifest whose id does not increase is refused', async () => {
    const { pair, raw } = await rawPair();
    const entries = [fileEntry(['first'], 0)];
    let received = pending(receiveFiles(pair.receiver, { dir }));
    await raw.send({ t: 'manifest', id: 7, entries });
    const want = await raw.reply();
    assert.equal(want.t, 'want');
    await raw.send({ t: 'start', id: 7, index: 0, offset: 0 });
    await raw.send({ t: 'end', id: 7, index: 0, sha256: createHash('sha256').digest() });
    assert.equal((await raw.reply()).t, 'done');
    assert.equal((await received).length, 1);
    received = pending(receiveFiles(pair.receiver, { dir }));
    await raw.send({ t: 'manifest', id: 7, entries: [fileEntry(['second'], 0)] });
    await assert.rejects(received, hasCode(ErrorCode.PROTOCOL));
    assert.deepEqual(await readdir(dir), ['first']);
  });

  it('content before any start', async () => {
    const { pair, raw } = await rawPair();
    const received = pending(receiveFile(pair.receiver, { dir }));
    await raw.chunk(Buffer.from('unsolicited'));
    await assert.rejects(received, hasCode(ErrorCode.PROTOCOL));
    assert.deepEqual(await readdir(dir), []);
  });
});

describe('a hostile receiver, against the real sender', () => {
  let files: string;
  before(async () => {
    files = await tempDir('hostile-src');
    await writeFile(join(files, 'one'), randomBytes(100));
    await writeFile(join(files, 'two'), randomBytes(100));
  });
  after(() => removeDir(files));

  async function offered(paths: string[]) {
    const pair = await peers.pair();
    const raw = new RawReceiver(pair.receiver);
    const sent = pending(sendFiles(pair.sender, paths.map((name) => join(files, name))));
    const manifest = await raw.next();
    assert.ok(!Buffer.isBuffer(manifest) && manifest.t === 'manifest');
    return { raw, sent, id: manifest.id };
  }
  const want = (id: number, index: number, credit = 4096) => ({
    t: 'want' as const,
    id,
    index,
    offset: 0,
    nonce: Buffer.alloc(32, 1),
    prefix: createHmac('sha256', Buffer.alloc(32, 1)).digest(),
    credit,
  });

  it('a want out of manifest order is ERR_PROTOCOL', async () => {
    const { raw, sent, id } = await offered(['one', 'two']);
    await raw.send(want(id, 1));
    await assert.rejects(sent, hasCode(ErrorCode.PROTOCOL));
  });

  it('done before every file was asked for is ERR_PROTOCOL', async () => {
    const { raw, sent, id } = await offered(['one', 'two']);
    await raw.send({ t: 'done', id });
    await assert.rejects(sent, hasCode(ErrorCode.PROTOCOL));
  });

  it('an answer to a batch not yet sent is ERR_PROTOCOL', async () => {
    const { raw, sent, id } = await offered(['one']);
    await raw.send(want(id + 1, 0));
    await assert.rejects(sent, hasCode(ErrorCode.PROTOCOL));
  });

  it('the sender keeps to its credit in chunks of at most a quarter of it, and goes on when credit comes', async () => {
    const { raw, sent, id } = await offered(['one']);
    await raw.send(want(id, 0, 40));
    const start = await raw.next();
    assert.ok(!Buffer.isBuffer(start) && start.t === 'start' && start.offset === 0);
    const content: Buffer[] = [];
    let granted = 40;
    let received = 0;
    for (;;) {
      const next = await raw.next();
      if (!Buffer.isBuffer(next)) {
        assert.ok(next.t === 'end');
        assert.deepEqual(Buffer.from(next.sha256), createHash('sha256').update(Buffer.concat(content)).digest());
        break;
      }
      assert.ok(next.length >= 1 && next.length <= 10, `a chunk of ${next.length} bytes`);
      content.push(next);
      received += next.length;
      assert.ok(received <= granted, 'never beyond the credit');
      if (received === granted) {
        granted += 10;
        await raw.send({ t: 'credit', id, bytes: 10 });
      }
    }
    assert.deepEqual(Buffer.concat(content), await readFile(join(files, 'one')));
    await raw.send({ t: 'done', id });
    assert.equal((await sent)[0]!.size, 100);
  });
});

describe('hostile control floods', () => {
  it('control messages nobody reads are bounded in bytes, not only in number: 100 long reports end the channel', { timeout: 30_000 }, async () => {
    const { pair, raw } = await rawPair();
    // The victim's file layer is attached (it is receiving), but nothing on its side is sending: the
    // reports queue for a sending role that never reads them.
    const received = pending(receiveFiles(pair.receiver, { dir }));
    const closed = new Promise<unknown>((resolve) => pair.receiver.once('close', resolve));
    for (let i = 0; i < 100; i++) {
      await raw.send({ t: 'receive-failed', id: 1, code: ErrorCode.FILE_IO, message: 'x'.repeat(1000) }).catch(() => {});
    }
    assert.equal((await closed as { code?: string } | undefined)?.code, ErrorCode.PROTOCOL);
    await assert.rejects(received, hasCode(ErrorCode.PROTOCOL));
    await sandboxUntouched();
  });
});
