/**
 * An adversarial review of the receiving file layer: a hostile local user
 * sharing the inbox folder, racing the receiver between its checks and its
 * writes, helped by a remote sender. Real sockets, real files.
 */

import assert from 'node:assert/strict';
import { existsSync, renameSync, symlinkSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ErrorCode } from '../src/errors.ts';
import { receiveFiles, sendDirectory } from '../src/files/index.ts';
import { type Identity, generateIdentity } from '../src/keys/identity.ts';
import { Peers, hasCode, pending, removeDir, tempDir } from './helpers/files-net.ts';

let identity: Identity;
let peers: Peers;
let sandbox: string;
let dir: string;
let outside: string;
before(async () => {
  identity = await generateIdentity({ modulusLength: 2048 });
  peers = await Peers.start(identity);
  sandbox = await tempDir('review-files');
});
after(async () => {
  await peers.close();
  await removeDir(sandbox);
});

let folders = 0;
beforeEach(async () => {
  const parent = join(sandbox, String(folders++));
  dir = join(parent, 'inbox');
  outside = join(parent, 'outside');
  await mkdir(dir, { recursive: true });
  await mkdir(outside);
});

describe('a subfolder swapped for a symbolic link between the check and the write', () => {
  // The local user renames the planned folder away and plants a link in its place once the
  // receiver has looked (onOffer runs after planning, so the swap is deterministic here).
  const swap = async (name: string) => {
    await rename(join(dir, name), join(dir, `${name}-moved`));
    await symlink(outside, join(dir, name));
    return true;
  };

  it('an existing folder merged into: nothing is written through the link', { skip: process.platform !== 'linux' }, async () => {
    const source = join(dir, '..', 'source');
    await mkdir(join(source, 'd'), { recursive: true });
    await writeFile(join(source, 'd', 'x'), 'owned');
    await mkdir(join(dir, 'd'));
    const pair = await peers.pair();
    const received = pending(receiveFiles(pair.receiver, { dir, onOffer: () => swap('d') }));
    const sent = pending(sendDirectory(pair.sender, join(source, 'd')));
    await assert.rejects(received, hasCode(ErrorCode.FILE_IO));
    await assert.rejects(sent, hasCode(ErrorCode.FILE_IO));
    assert.deepEqual(await readdir(outside), []);
  });

  it('a folder the batch created: its final mode is never applied through the link', async () => {
    const source = join(dir, '..', 'source');
    await mkdir(join(source, 'd'), { recursive: true });
    await writeFile(join(source, 'd', 'x'), 'owned');
    await chmod(join(source, 'd'), 0o757);
    await chmod(outside, 0o700);
    const pair = await peers.pair();
    // The swap once the file is in at its final name, before the folders get their final modes.
    let swapped = false;
    const onProgress = () => {
      if (swapped || !existsSync(join(dir, 'd', 'x'))) return;
      swapped = true;
      renameSync(join(dir, 'd'), join(dir, 'd-moved'));
      symlinkSync(outside, join(dir, 'd'));
    };
    const received = pending(receiveFiles(pair.receiver, { dir, onProgress }));
    const sent = pending(sendDirectory(pair.sender, join(source, 'd')));
    await assert.rejects(received, hasCode(ErrorCode.FILE_IO));
    await assert.rejects(sent, hasCode(ErrorCode.FILE_IO));
    assert.equal((await stat(outside)).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(outside), []);
  });
});
