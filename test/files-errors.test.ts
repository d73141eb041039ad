/**
 * Failures: each surfaces as a NetcryptError with a stable code on the side
 * where it happened and on the peer, leaves no partial file behind (except
 * a lost connection, see files-resume), and leaves the channel usable.
 *
 * Tests run as root, which ignores permission bits, so "permission denied"
 * is exercised with a read-only file system (EROFS) rather than chmod; the
 * disk-full case uses a 1 MiB tmpfs. Both skip where mount(8) is refused.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '../src/errors.ts';
import { receiveFile, sendDirectory, sendFile } from '../src/files/index.ts';
import { generateIdentity } from '../src/keys/identity.ts';
import { type ChannelPair, Peers, folderMaker, hasCode, pending, removeDir, tempDir, writeRandomFile } from './helpers/files-net.ts';

let peers: Peers;
let pair: ChannelPair;
let work: string;
let big: string;
const mounts: string[] = [];
before(async () => {
  peers = await Peers.start(await generateIdentity({ modulusLength: 2048 }));
  pair = await peers.pair();
  work = await tempDir('errors');
  big = join(work, 'big.bin');
  await writeRandomFile(big, 32 * 1024 * 1024);
  await writeFile(join(work, 'small.txt'), 'small');
});
after(async () => {
  await peers.close();
  for (const mount of mounts) execFileSync('umount', [mount]);
  await removeDir(work);
});

const folder = folderMaker(() => work);
let tmpfsCount = 0;

/** A fresh tmpfs, or undefined where this process may not mount. */
function tmpfs(options: string): string | undefined {
  const path = join(work, `mnt-${tmpfsCount++}`);
  execFileSync('mkdir', [path]);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', path], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  mounts.push(path);
  return path;
}

/** The channel still carries a file after the failure. */
async function stillUsable(): Promise<void> {
  const dir = await folder();
  const received = receiveFile(pair.receiver, { dir });
  await sendFile(pair.sender, join(work, 'small.txt'));
  assert.equal((await received).name, 'small.txt');
}

/** Runs one transfer that must fail with `code` on both sides, and checks that the target folder is left empty. */
async function failsBothSides(code: string, dir: string, send: () => Promise<unknown>, receiveOptions = {}): Promise<void> {
  const received = pending(receiveFile(pair.receiver, { dir, ...receiveOptions }));
  await assert.rejects(send(), hasCode(code));
  await assert.rejects(received, hasCode(code));
  assert.deepEqual(await readdir(dir), [], 'no partial or final file');
}

describe('sender-side errors', () => {
  it('a missing source is ERR_FILE_IO before anything is sent', async () => {
    await assert.rejects(sendFile(pair.sender, join(work, 'no-such-file')), hasCode(ErrorCode.FILE_IO));
    await stillUsable();
  });

  it('a folder given to sendFile, or a file to sendDirectory, is ERR_FILE_IO', async () => {
    await assert.rejects(sendFile(pair.sender, work), hasCode(ErrorCode.FILE_IO));
    await assert.rejects(sendDirectory(pair.sender, join(work, 'small.txt')), hasCode(ErrorCode.FILE_IO));
    await assert.rejects(sendDirectory(pair.sender, join(work, 'no-such-folder')), hasCode(ErrorCode.FILE_IO));
  });

  it('a source that changes while it is sent is ERR_FILE_CHANGED on both sides', async () => {
    const source = join(work, 'growing.bin');
    await writeRandomFile(source, 16 * 1024 * 1024);
    let grown = false;
    const grow = () => {
      if (!grown) appendFileSync(source, 'more');
      grown = true;
    };
    await failsBothSides(ErrorCode.FILE_CHANGED, await folder(), () => sendFile(pair.sender, source, { onProgress: grow }));
    await stillUsable();
  });

  it('an aborted send is ERR_ABORTED on both sides and the receiver removes its partial file', async () => {
    const controller = new AbortController();
    await failsBothSides(ErrorCode.ABORTED, await folder(), () =>
      sendFile(pair.sender, big, { signal: controller.signal, onProgress: () => controller.abort() }),
    );
    await stillUsable();
  });

  it('a channel already closed is ERR_CLOSED', async () => {
    const closed = await peers.pair();
    await closed.sender.close();
    await assert.rejects(sendFile(closed.sender, join(work, 'small.txt')), hasCode(ErrorCode.CLOSED));
  });
});

describe('receiver-side errors', () => {
  it('a missing target folder is ERR_FILE_IO on both sides', async () => {
    const missing = join(work, 'no-such-target');
    const received = pending(receiveFile(pair.receiver, { dir: missing }));
    await assert.rejects(sendFile(pair.sender, join(work, 'small.txt')), hasCode(ErrorCode.FILE_IO));
    await assert.rejects(received, hasCode(ErrorCode.FILE_IO));
    await stillUsable();
  });

  it('an aborted receive is ERR_ABORTED on both sides and removes the partial file', async () => {
    const controller = new AbortController();
    await failsBothSides(ErrorCode.ABORTED, await folder(), () => sendFile(pair.sender, big), {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await stillUsable();
  });

  it('an already aborted signal rejects at once', async () => {
    await assert.rejects(receiveFile(pair.receiver, { signal: AbortSignal.abort() }), hasCode(ErrorCode.ABORTED));
    await stillUsable();
  });

  it('a full disk is ERR_FILE_IO (ENOSPC) on both sides and the partial file is removed', async (t) => {
    const dir = tmpfs('size=1m');
    if (!dir) return t.skip('cannot mount a tmpfs here');
    const received = pending(receiveFile(pair.receiver, { dir }));
    await assert.rejects(sendFile(pair.sender, big), (error: Error) => hasCode(ErrorCode.FILE_IO)(error) && /ENOSPC/.test(error.message));
    await assert.rejects(received, (error: Error) => hasCode(ErrorCode.FILE_IO)(error) && /ENOSPC/.test(error.message));
    assert.deepEqual(await readdir(dir), []);
    await stillUsable();
  });

  it('a read-only target is ERR_FILE_IO (EROFS) on both sides', async (t) => {
    const dir = tmpfs('ro,size=1m');
    if (!dir) return t.skip('cannot mount a tmpfs here');
    const received = pending(receiveFile(pair.receiver, { dir }));
    await assert.rejects(sendFile(pair.sender, join(work, 'small.txt')), hasCode(ErrorCode.FILE_IO));
    await assert.rejects(received, (error: Error) => hasCode(ErrorCode.FILE_IO)(error) && /EROFS/.test(error.message));
    await stillUsable();
  });
});
