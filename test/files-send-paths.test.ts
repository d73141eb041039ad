/** sendPaths(): files and folders together as one batch, over a real loopback channel. */

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '../src/errors.ts';
import { receiveFiles, sendPaths } from '../src/files/index.ts';
import { type Identity, generateIdentity } from '../src/keys/identity.ts';
import { type ChannelPair, Peers, folderMaker, hasCode, listTree, removeDir, tempDir } from './helpers/files-net.ts';

let identity: Identity;
let peers: Peers;
let pair: ChannelPair;
let work: string;
before(async () => {
  identity = await generateIdentity({ modulusLength: 2048 });
  peers = await Peers.start(identity);
  pair = await peers.pair();
  work = await tempDir('send-paths');
});
after(async () => {
  await peers.close();
  await removeDir(work);
});

const folder = folderMaker(() => work);

describe('sendPaths', () => {
  it('sends a file and a folder tree as one batch, which one receiveFiles takes', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeFile(join(src, 'notes.txt'), 'a file on its own');
    await mkdir(join(src, 'photos', '2026'), { recursive: true });
    await writeFile(join(src, 'photos', 'a.jpg'), 'jpeg a');
    await writeFile(join(src, 'photos', '2026', 'b.jpg'), 'jpeg b');
    const [sent, received] = await Promise.all([
      sendPaths(pair.sender, [join(src, 'notes.txt'), join(src, 'photos')]),
      receiveFiles(pair.receiver, { dir: dst }),
    ]);
    assert.deepEqual(sent.files.map((file) => file.name), ['notes.txt', 'photos/2026/b.jpg', 'photos/a.jpg']);
    assert.deepEqual(received.map((file) => file.name), sent.files.map((file) => file.name));
    assert.deepEqual(sent.skipped, []);
    assert.deepEqual(await listTree(dst), ['notes.txt', 'photos', 'photos/2026', 'photos/2026/b.jpg', 'photos/a.jpg']);
    assert.equal(await readFile(join(dst, 'photos', '2026', 'b.jpg'), 'utf8'), 'jpeg b');
  });

  it('refuses two paths with the same base name before sending anything', async () => {
    const [one, two] = [await folder('one'), await folder('two')];
    await writeFile(join(one, 'same'), '1');
    await mkdir(join(two, 'same'));
    await assert.rejects(sendPaths(pair.sender, [join(one, 'same'), join(two, 'same')]), hasCode(ErrorCode.INVALID_ARGUMENT));
  });
});
