/**
 * "Done" means delivered: a receiver in another process exits the moment
 * its call resolves, and the sender's call still resolves, because the
 * receiver's acknowledgement was on the wire before its call did.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ErrorCode } from '../src/errors.ts';
import { type FileResult, receiveFile, sendFile, sendFiles } from '../src/files/index.ts';
import type { Identity } from '../src/keys/identity.ts';
import { createServer } from '../src/protocol/server.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { ServerProtocol } from '../src/protocol/seed-protocol.ts';
import { RawSender, partialPath } from './helpers/files-hostile.ts';
import { Peers, folderMaker, hasCode, pending, removeDir, sha256File, tempDir, writeRandomFile } from './helpers/files-net.ts';
import { testIdentities } from './helpers/identities.ts';

const receiverScript = join(import.meta.dirname, 'helpers', 'files-exit-receiver.ts');

let identity: Identity;
let work: string;
let source: string;
let second: string;
before(async () => {
  [identity] = (await testIdentities()) as [Identity];
  work = await tempDir('delivery');
  source = join(work, 'data.bin');
  second = join(work, 'more.bin');
  await writeRandomFile(source, 700_000);
  await writeRandomFile(second, 300_000);
});
after(() => removeDir(work));

const target = folderMaker(() => work);

function runReceiver(mode: string, port: number, dir: string): Promise<{ stdout: string }> {
  return promisify(execFile)(process.execPath, ['--import', 'tsx', receiverScript, mode, String(port), dir, identity.fingerprint]);
}

/** A server whose first connection runs `send`; resolves with its outcome and the receiving process's. */
async function transfer(mode: string, send: (channel: Channel) => Promise<FileResult[]>) {
  const dir = await target();
  let sent!: Promise<FileResult[]>;
  const connected = new Promise<void>((resolve) => {
    const server = createServer({ identity, backend: 'native' }, (channel) => {
      sent = send(channel);
      sent.catch(() => {}).finally(() => server.close());
      resolve();
    });
    server.listen(0, '127.0.0.1', async () => {
      const port = (server.address() as net.AddressInfo).port;
      received = runReceiver(mode, port, dir);
    });
  });
  let received!: Promise<{ stdout: string }>;
  await connected;
  const [sentResult, receivedResult] = await Promise.allSettled([sent, received]);
  return { dir, sent: sentResult, received: receivedResult };
}

describe('a receiver that exits as soon as its call resolves', () => {
  it('receiveFile: the sender’s sendFile resolves, the file is intact', async () => {
    const { dir, sent, received } = await transfer('receiveFile', async (channel) => [await sendFile(channel, source)]);
    assert.equal(received.status, 'fulfilled', String((received as PromiseRejectedResult).reason));
    assert.equal(sent.status, 'fulfilled', `sender: ${String((sent as PromiseRejectedResult).reason)}`);
    const digest = await sha256File(source);
    assert.equal(sent.value[0]!.sha256, digest);
    assert.equal(JSON.parse(received.value.stdout).sha256, digest);
    assert.equal(await sha256File(join(dir, 'data.bin')), digest);
  });

  it('receiveFiles: the sender’s sendFiles resolves, both files intact', async () => {
    const { dir, sent, received } = await transfer('receiveFiles', (channel) => sendFiles(channel, [source, second]));
    assert.equal(received.status, 'fulfilled', String((received as PromiseRejectedResult).reason));
    assert.equal(sent.status, 'fulfilled', `sender: ${String((sent as PromiseRejectedResult).reason)}`);
    assert.equal(await sha256File(join(dir, 'data.bin')), await sha256File(source));
    assert.equal(await sha256File(join(dir, 'more.bin')), await sha256File(second));
  });

  it('the seed API’s recvFile: the seed sendFile resolves, the file is intact', async () => {
    const dir = await target();
    const protocol = new ServerProtocol({ keyPair: identity });
    let sent!: Promise<FileResult>;
    const server = net.createServer((socket) => {
      sent = protocol.publicKeyExchange(socket).then(() => protocol.sendFile(socket, source));
      sent.catch(() => {}).finally(() => server.close());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const received = await runReceiver('recvFile', (server.address() as net.AddressInfo).port, dir);
    const result = await sent;
    const digest = await sha256File(source);
    assert.equal(result.sha256, digest);
    assert.equal(JSON.parse(received.stdout).sha256, digest);
    assert.equal(await sha256File(join(dir, 'data.bin')), digest);
  });
});

describe('failures are told before the call rejects', () => {
  let peers: Peers;
  before(async () => {
    peers = await Peers.start(identity);
  });
  after(() => peers.close());

  it('a receiver that destroys its channel right after a failure has told the sender why', async () => {
    const dir = await target();
    await writeFile(join(dir, 'data.bin'), 'already here');
    const { sender, receiver } = await peers.pair();
    const sent = pending(sendFile(sender, source));
    await assert.rejects(
      receiveFile(receiver, { dir }).finally(() => receiver.destroy()),
      hasCode(ErrorCode.FILE_EXISTS),
    );
    await assert.rejects(sent, (error) => hasCode(ErrorCode.FILE_EXISTS)(error) && /^receiver reported:/.test((error as Error).message));
  });

  it('a sender that destroys its channel right after an abort has told the receiver why', async () => {
    const dir = await target();
    const { sender, receiver } = await peers.pair();
    const controller = new AbortController();
    const received = pending(receiveFile(receiver, { dir }));
    await assert.rejects(sendFile(sender, source, { signal: controller.signal, onProgress: () => controller.abort() }).finally(() => sender.destroy()), hasCode(ErrorCode.ABORTED));
    await assert.rejects(received, (error) => hasCode(ErrorCode.ABORTED)(error) && /^sender reported:/.test((error as Error).message));
  });

  it('sendFile to a peer that never receives ends with ERR_TIMEOUT, and the channel goes on', async () => {
    const { sender, receiver } = await peers.pair();
    await assert.rejects(sendFile(sender, source, { timeoutMs: 300 }), (error) => hasCode(ErrorCode.TIMEOUT)(error) && /receiveFile/.test((error as Error).message));
    await sender.send('still here');
    assert.equal((await receiver.receive()).toString(), 'still here');
  });

  it('a sender that goes silent in the middle of a file: the receiver gives up with ERR_TIMEOUT, says so, and keeps the partial for resume', async () => {
    const dir = await target();
    const { sender, receiver } = await peers.pair();
    const raw = new RawSender(sender);
    const received = pending(receiveFile(receiver, { dir, timeoutMs: 300 }));
    const id = await raw.manifest([{ type: 'file', path: ['slow.bin'], size: 1000, mode: 0o644, mtime: 1_700_000_000_000 }]);
    assert.equal((await raw.reply()).t, 'want');
    await raw.send({ t: 'start', id, index: 0, offset: 0 });
    await raw.chunk(Buffer.alloc(100, 7));
    const verdict = await raw.reply();
    assert.deepEqual([verdict.t, 'code' in verdict && verdict.code], ['receive-failed', ErrorCode.TIMEOUT]);
    await assert.rejects(received, hasCode(ErrorCode.TIMEOUT));
    const partial = partialPath(dir, sender, 'slow.bin', 1000, 1_700_000_000_000);
    assert.deepEqual(await readFile(partial), Buffer.alloc(100, 7));
  });

  it('a timeoutMs that is not a positive integer is refused before anything is sent', async () => {
    const { sender } = await peers.pair();
    await assert.rejects(sendFile(sender, source, { timeoutMs: 0 }), hasCode(ErrorCode.INVALID_ARGUMENT));
  });
});
