/** Files and folders over real loopback channels into real temporary folders. */

import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readFile, readdir, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { ErrorCode } from '../src/errors.ts';
import { type TransferProgress, receiveFile, receiveFiles, sendDirectory, sendFile, sendFiles } from '../src/files/index.ts';
import { type Identity, generateIdentity } from '../src/keys/identity.ts';
import { ClientProtocol, ServerProtocol } from '../src/protocol/seed-protocol.ts';
import { type ChannelPair, Peers, folderMaker, hasCode, listTree, pending, removeDir, sha256File, tempDir, writeRandomFile } from './helpers/files-net.ts';

let identity: Identity;
let peers: Peers;
let pair: ChannelPair;
let work: string;
before(async () => {
  identity = await generateIdentity({ modulusLength: 2048 });
  peers = await Peers.start(identity);
  pair = await peers.pair();
  work = await tempDir('files');
});
after(async () => {
  await peers.close();
  await removeDir(work);
});

const folder = folderMaker(() => work);

describe('one file', () => {
  const KiB = 1024;
  const sizes = [0, 1, 16 * KiB - 1, 16 * KiB, 16 * KiB + 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 256 * KiB + 1, 64 * 1024 * KiB];
  for (const size of sizes) {
    it(`round-trips ${size} bytes with equal SHA-256, mode and mtime`, async () => {
      const [src, dst] = [await folder('src'), await folder('dst')];
      const source = join(src, `file-${size}.bin`);
      await writeRandomFile(source, size);
      await chmod(source, 0o640);
      await utimes(source, 1_600_000_000, 1_600_000_000.25);
      const received = receiveFile(pair.receiver, { dir: dst });
      const sent = await sendFile(pair.sender, source);
      const got = await received;
      const digest = await sha256File(source);
      assert.equal(sent.sha256, digest);
      assert.equal(got.sha256, digest);
      assert.equal(await sha256File(got.path), digest);
      assert.deepEqual({ name: got.name, size: got.size, resumedFrom: got.resumedFrom }, { name: `file-${size}.bin`, size, resumedFrom: 0 });
      const stats = await stat(got.path);
      assert.equal(stats.mode & 0o7777, 0o640);
      assert.ok(Math.abs(stats.mtimeMs - 1_600_000_000_250) < 1, `mtime ${stats.mtimeMs}`);
      assert.deepEqual(await readdir(dst), [`file-${size}.bin`], 'no partial file is left');
    });
  }

  it('follows a link named explicitly, sending under the link’s name', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeFile(join(src, 'target.txt'), 'through the link');
    await symlink(join(src, 'target.txt'), join(src, 'alias.txt'));
    const received = receiveFile(pair.receiver, { dir: dst });
    await sendFile(pair.sender, join(src, 'alias.txt'));
    assert.equal((await received).name, 'alias.txt');
    assert.equal(await readFile(join(dst, 'alias.txt'), 'utf8'), 'through the link');
    assert.ok((await lstat(join(dst, 'alias.txt'))).isFile());
  });

  it('refuses to send a local file whose name a receiver would refuse', async () => {
    const src = await folder('src');
    for (const name of ['CON', 'a:b', 'tab\there', 'ends.']) {
      await writeFile(join(src, name), 'x');
      await assert.rejects(sendFile(pair.sender, join(src, name)), hasCode(ErrorCode.BAD_FILENAME));
    }
  });

  it('drops setuid, setgid and sticky bits', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeFile(join(src, 'tool'), 'x');
    await chmod(join(src, 'tool'), 0o7755);
    const received = receiveFile(pair.receiver, { dir: dst });
    await sendFile(pair.sender, join(src, 'tool'));
    assert.equal((await stat((await received).path)).mode & 0o7777, 0o755);
  });

  it('reports progress on both sides up to the total', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeRandomFile(join(src, 'p.bin'), 3 * 1024 * 1024 + 5);
    const seen: Record<'sent' | 'received', TransferProgress[]> = { sent: [], received: [] };
    const received = receiveFile(pair.receiver, { dir: dst, onProgress: (p) => seen.received.push(p) });
    await sendFile(pair.sender, join(src, 'p.bin'), { onProgress: (p) => seen.sent.push(p) });
    await received;
    for (const reports of Object.values(seen)) {
      assert.ok(reports.length >= 2);
      const last = reports.at(-1)!;
      assert.deepEqual([last.name, last.bytes, last.total, last.fileBytes, last.fileTotal], ['p.bin', 3 * 1024 * 1024 + 5, 3 * 1024 * 1024 + 5, 3 * 1024 * 1024 + 5, 3 * 1024 * 1024 + 5]);
      assert.ok(last.rate > 0 && last.eta === 0);
      for (let i = 1; i < reports.length; i++) assert.ok(reports[i]!.bytes >= reports[i - 1]!.bytes);
    }
  });

  it('moves files both ways at once on one channel', async () => {
    const [a, b] = [await folder('a'), await folder('b')];
    await writeRandomFile(join(a, 'from-a'), 2_000_000);
    await writeRandomFile(join(b, 'from-b'), 2_000_000);
    const results = await Promise.all([
      receiveFile(pair.receiver, { dir: b }),
      receiveFile(pair.sender, { dir: a }),
      sendFile(pair.sender, join(a, 'from-a')),
      sendFile(pair.receiver, join(b, 'from-b')),
    ]);
    assert.equal(results[0].sha256, results[2].sha256);
    assert.equal(results[1].sha256, results[3].sha256);
  });
});

describe('no silent overwrite', () => {
  it('refuses an existing name by default and keeps the old content; overwrite: true replaces it', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeFile(join(src, 'same.txt'), 'new content');
    await writeFile(join(dst, 'same.txt'), 'old content');
    await Promise.all([
      assert.rejects(receiveFile(pair.receiver, { dir: dst }), hasCode(ErrorCode.FILE_EXISTS)),
      assert.rejects(sendFile(pair.sender, join(src, 'same.txt')), hasCode(ErrorCode.FILE_EXISTS)),
    ]);
    assert.equal(await readFile(join(dst, 'same.txt'), 'utf8'), 'old content');
    assert.deepEqual(await readdir(dst), ['same.txt']);

    const replaced = receiveFile(pair.receiver, { dir: dst, overwrite: true });
    await sendFile(pair.sender, join(src, 'same.txt'));
    await replaced;
    assert.equal(await readFile(join(dst, 'same.txt'), 'utf8'), 'new content');
  });

  it('two transfers of one name into one folder at once: one lands whole, the other is refused', async () => {
    const other = await peers.pair();
    const [a, b, dst] = [await folder('a'), await folder('b'), await folder('dst')];
    await writeRandomFile(join(a, 'same.bin'), 8 * 1024 * 1024);
    await writeRandomFile(join(b, 'same.bin'), 8 * 1024 * 1024);
    const [first, second] = await Promise.allSettled([
      receiveFile(pair.receiver, { dir: dst }),
      receiveFile(other.receiver, { dir: dst }),
      sendFile(pair.sender, join(a, 'same.bin')).catch(() => {}),
      sendFile(other.sender, join(b, 'same.bin')).catch(() => {}),
    ]);
    const outcomes = [first, second].map((r) => r.status);
    assert.deepEqual(outcomes.sort(), ['fulfilled', 'rejected']);
    const loser = [first, second].find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(hasCode(ErrorCode.FILE_EXISTS)(loser.reason), String(loser.reason));
    const winner = first.status === 'fulfilled' ? a : b;
    assert.equal(await sha256File(join(dst, 'same.bin')), await sha256File(join(winner, 'same.bin')));
    assert.deepEqual(await readdir(dst), ['same.bin']);
  });

  it('checks a whole batch before writing: one conflict and nothing of it is written', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    for (const name of ['a', 'b', 'c']) await writeFile(join(src, name), name);
    await writeFile(join(dst, 'c'), 'mine');
    await Promise.all([
      assert.rejects(receiveFiles(pair.receiver, { dir: dst }), hasCode(ErrorCode.FILE_EXISTS)),
      assert.rejects(sendFiles(pair.sender, ['a', 'b', 'c'].map((n) => join(src, n))), hasCode(ErrorCode.FILE_EXISTS)),
    ]);
    assert.deepEqual(await readdir(dst), ['c']);
  });
});

describe('several files and folders', () => {
  it('sendFiles → receiveFiles keeps order and content', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    const names = ['one', 'two', 'three'];
    for (const [i, name] of names.entries()) await writeRandomFile(join(src, name), 1000 * i);
    const received = receiveFiles(pair.receiver, { dir: dst });
    const sent = await sendFiles(pair.sender, names.map((n) => join(src, n)));
    const got = await received;
    assert.deepEqual(got.map((f) => f.name), names);
    assert.deepEqual(got.map((f) => f.sha256), sent.map((f) => f.sha256));
  });

  it('refuses two files with one base name', async () => {
    const [a, b] = [await folder('a'), await folder('b')];
    await writeFile(join(a, 'x'), '1');
    await writeFile(join(b, 'x'), '2');
    await assert.rejects(sendFiles(pair.sender, [join(a, 'x'), join(b, 'x')]), hasCode(ErrorCode.INVALID_ARGUMENT));
  });

  it('sends a tree with nested folders and odd legal names; links are skipped, not followed', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    const root = join(src, 'My Stuff ✨');
    const files: Record<string, number> = {
      'top.txt': 10,
      'empty file': 0,
      'Ünïcödé/résumé.pdf': 5000,
      'Ünïcödé/日本語/深い/ファイル.txt': 70_000,
      '📁 emoji/🎉 party.bin': 300_000,
      'with spaces/and (parens) [1].txt': 1,
      [`long/${'n'.repeat(255)}`]: 3,
    };
    for (const [name, size] of Object.entries(files)) {
      await mkdir(join(root, name, '..'), { recursive: true });
      await writeRandomFile(join(root, name), size);
    }
    await mkdir(join(root, 'empty folder'));
    await chmod(join(root, 'Ünïcödé'), 0o750);
    await symlink('/etc/passwd', join(root, 'link-out'));
    await symlink('Ünïcödé', join(root, 'link-dir'));

    const received = receiveFiles(pair.receiver, { dir: dst });
    const sent = await sendDirectory(pair.sender, root);
    const got = await received;
    assert.deepEqual(sent.skipped.sort(), ['My Stuff ✨/link-dir', 'My Stuff ✨/link-out']);
    assert.equal(got.length, Object.keys(files).length);
    for (const file of got) assert.equal(await sha256File(file.path), await sha256File(join(src, file.name)));
    const expected = (await listTree(src)).filter((name) => !name.includes('link-'));
    assert.deepEqual(await listTree(dst), expected);
    assert.ok((await stat(join(dst, 'My Stuff ✨', 'empty folder'))).isDirectory());
    assert.ok(!(await lstat(join(dst, 'My Stuff ✨', 'Ünïcödé'))).isSymbolicLink());
    assert.equal((await stat(join(dst, 'My Stuff ✨', 'Ünïcödé'))).mode & 0o777, 0o750, 'folders keep their mode');
  });

  it('merges into an existing folder', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await mkdir(join(src, 'd'));
    await writeFile(join(src, 'd', 'new'), 'n');
    await mkdir(join(dst, 'd'));
    await writeFile(join(dst, 'd', 'old'), 'o');
    const received = receiveFiles(pair.receiver, { dir: dst });
    await sendDirectory(pair.sender, join(src, 'd'));
    await received;
    assert.deepEqual(await listTree(dst), ['d', 'd/new', 'd/old']);
  });

  it('receiveFile refuses a folder (ERR_PROTOCOL) and the channel goes on', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await mkdir(join(src, 'd'));
    await Promise.all([
      assert.rejects(receiveFile(pair.receiver, { dir: dst }), hasCode(ErrorCode.PROTOCOL)),
      assert.rejects(sendDirectory(pair.sender, join(src, 'd')), hasCode(ErrorCode.PROTOCOL)),
    ]);
    assert.deepEqual(await readdir(dst), []);
    await writeFile(join(src, 'after'), 'ok');
    const received = receiveFile(pair.receiver, { dir: dst });
    await sendFile(pair.sender, join(src, 'after'));
    assert.equal((await received).name, 'after');
  });
});

describe('the seed API', () => {
  async function seedPair(): Promise<{ server: ServerProtocol; client: ClientProtocol; serverSocket: net.Socket; clientSocket: net.Socket; close: () => void }> {
    const server = new ServerProtocol({ keyPair: identity, backend: 'native' });
    const client = new ClientProtocol({ keyPair: identity, backend: 'native' });
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
    const clientSocket = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
    const serverSocket = await accepted;
    const [clientKey, serverKey] = await Promise.all([server.publicKeyExchange(serverSocket), client.publicKeyExchange(clientSocket)]);
    server.setPublicKey(clientKey);
    client.setPublicKey(serverKey);
    return { server, client, serverSocket, clientSocket, close: () => (listener.close(), serverSocket.destroy(), clientSocket.destroy()) };
  }

  it('sendFile → recvFile into a chosen folder', async () => {
    const seed = await seedPair();
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeRandomFile(join(src, 'seed.bin'), 100_000);
    const received = seed.server.recvFile(seed.serverSocket, dst);
    await seed.client.sendFile(seed.clientSocket, join(src, 'seed.bin'));
    assert.equal((await received).path, join(dst, 'seed.bin'));
    assert.equal(await sha256File(join(dst, 'seed.bin')), await sha256File(join(src, 'seed.bin')));
    seed.close();
  });

  it('recvFile with no folder saves into the current one, without changing it', async () => {
    const seed = await seedPair();
    const [src, dst] = [await folder('src'), await folder('cwd')];
    await writeRandomFile(join(src, 'here.bin'), 5000);
    const cwd = process.cwd();
    process.chdir(dst);
    try {
      const received = seed.server.recvFile(seed.serverSocket);
      await seed.client.sendFile(seed.clientSocket, join(src, 'here.bin'));
      await received;
      assert.equal(process.cwd(), dst);
    } finally {
      process.chdir(cwd);
    }
    assert.deepEqual(await readdir(dst), ['here.bin']);
    seed.close();
  });
});

describe('createServer and connect, the natural way', () => {
  it('a receiver that calls receiveFile after the sender has begun still gets the file', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeRandomFile(join(src, 'early.bin'), 100_000);
    let received!: Promise<{ sha256: string }>;
    const server = createServer({ identity, backend: 'native' }, (channel) => {
      // The channel holds the offer until the file lanes are claimed.
      received = pending(new Promise((resolve) => setTimeout(resolve, 50)).then(() => receiveFile(channel, { dir: dst })));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const channel = await connect({ port: (server.address() as net.AddressInfo).port, identity, pin: identity.fingerprint, backend: 'native' });
    try {
      const sent = await sendFile(channel, join(src, 'early.bin'));
      assert.equal((await received).sha256, sent.sha256);
    } finally {
      await channel.close();
      server.close();
    }
  });
});
