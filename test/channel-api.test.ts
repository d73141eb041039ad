/** The channel API as the README shows it, and its shutdown paths. */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { duplexPair } from '../src/channel/duplex-pair.ts';
import { SecureChannel } from '../src/channel/secure-channel.ts';
import { NetcryptError } from '../src/errors.ts';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { ServerProtocol } from '../src/protocol/seed-protocol.ts';
import { loadBackend } from '../src/backend/index.ts';
import { parseRecordType } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve } from './helpers/net.ts';

const [serverId, clientId] = await testIdentities();

async function echo(options: Parameters<typeof createServer>[0] = {}) {
  const server = createServer({ identity: serverId, ...options }, async (channel) => {
    for await (const message of channel) await channel.send(message);
    await channel.close();
  });
  return serve(server);
}

describe('channel API', () => {
  it('stream() is a Duplex that works with pipeline()', async () => {
    const port = await echo();
    const channel = await connect({ port, identity: clientId, pin: serverId!.fingerprint });
    const duplex = channel.stream();
    const received: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk);
        callback();
      },
    });
    const reading = pipeline(duplex, sink);
    await pipeline(Readable.from([Buffer.from('one '), Buffer.from('two '), Buffer.from('three')]), duplex);
    await reading;
    assert.equal(Buffer.concat(received).toString(), 'one two three');
  });

  it("the 'message' event delivers messages while a listener is attached", async () => {
    const port = await echo();
    const channel = await connect({ port, identity: clientId, trust: 'any' });
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      channel.on('message', (m) => {
        got.push(m.toString());
        if (got.length === 3) resolve();
      }),
    );
    for (const m of ['a', 'b', 'c']) await channel.send(m);
    await all;
    assert.deepEqual(got, ['a', 'b', 'c']);
    await channel.close();
  });

  it("a 'message' listener that throws surfaces as an uncaught exception, and the channel carries on", async () => {
    // Its own process: in this one, node:test would take the uncaught exception as this test's failure.
    const script = fileURLToPath(new URL('./helpers/throwing-listener.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script]);
    assert.deepEqual(JSON.parse(stdout), { uncaught: 'bug in the listener', code: null, second: 'second' });
  });

  it('verifyPeer can refuse a peer, and sees its fingerprint', async () => {
    const port = await echo();
    const seen: string[] = [];
    await assert.rejects(
      connect({
        port,
        identity: clientId,
        verifyPeer: (peer) => {
          seen.push(peer.fingerprint);
          throw new NetcryptError('ERR_PEER_KEY_MISMATCH', 'not on my list');
        },
      }),
      { code: 'ERR_PEER_KEY_MISMATCH', message: 'not on my list' },
    );
    assert.deepEqual(seen, [serverId!.fingerprint]);
  });

  it('receive({ timeoutMs }) and receive({ signal }) give up without breaking the channel', async () => {
    const port = await echo();
    const channel = await connect({ port, identity: clientId, trust: 'any' });
    await assert.rejects(channel.receive({ timeoutMs: 50 }), { code: 'ERR_TIMEOUT' });
    await assert.rejects(channel.receive({ signal: AbortSignal.abort() }), { code: 'ERR_ABORTED' });
    await channel.send('still here');
    assert.equal((await channel.receive()).toString(), 'still here');
    await channel[Symbol.asyncDispose]();
    assert.ok(channel.closed);
  });

  it('a connect() signal bounds the dial and handshake only, not the channel', async () => {
    const port = await echo();
    const controller = new AbortController();
    const channel = await connect({ port, identity: clientId, signal: controller.signal, trust: 'any' });
    controller.abort();
    await channel.send('after abort');
    assert.equal((await channel.receive()).toString(), 'after abort');
    await channel.close();
  });

  it('a SecureChannel built with an already aborted signal fails cleanly', async () => {
    const [a] = duplexPair();
    const channel = new SecureChannel(a, { role: 'client', identity: clientId!, backend: await loadBackend('native'), signal: AbortSignal.abort() });
    await assert.rejects(channel.ready, { code: 'ERR_ABORTED' });
    assert.ok(a.destroyed);
  });

  it('channels from connect() and createServer() carry files: sendFile/receiveFile, sendDirectory/receiveFiles', async () => {
    const { mkdtemp, mkdir, readFile, rm, writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const work = await mkdtemp(join(tmpdir(), 'netcrypt-methods-'));
    try {
      await mkdir(join(work, 'tree', 'inner'), { recursive: true });
      await writeFile(join(work, 'one.txt'), 'one');
      await writeFile(join(work, 'tree', 'inner', 'two.txt'), 'two');
      await mkdir(join(work, 'inbox'));
      let namesReceived!: (names: string[]) => void;
      const received = new Promise<string[]>((resolve) => (namesReceived = resolve));
      const server = createServer({ identity: serverId }, async (channel) => {
        const single = await channel.receiveFile({ dir: join(work, 'inbox') });
        const batch = await channel.receiveFiles({ dir: join(work, 'inbox') });
        namesReceived([single.name, ...batch.map((f) => f.name)]);
      });
      const channel = await connect({ port: await serve(server), identity: clientId, trust: 'any' });
      await channel.sendFile(join(work, 'one.txt'));
      const sent = await channel.sendDirectory(join(work, 'tree'));
      assert.deepEqual(sent.files.map((f) => f.name), ['tree/inner/two.txt']);
      assert.deepEqual((await received).sort(), ['one.txt', 'tree/inner/two.txt']);
      assert.equal(await readFile(join(work, 'inbox', 'tree', 'inner', 'two.txt'), 'utf8'), 'two');
      channel.destroy();
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('invalid channel options are an argument error and leave no transport open', async () => {
    const { secureSocket } = await import('../src/protocol/connect.ts');
    const [a] = duplexPair();
    await assert.rejects(secureSocket(a, 'client', { identity: clientId, handshakeTimeoutMs: 0, trust: 'any' }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.ok(a.destroyed);
  });

  it('records on lanes nobody defined are not accepted', () => {
    for (const type of [0x07, 0x18, 0x19, 0x1f, 0x24, 0x27, 0x00, 0xff]) assert.equal(parseRecordType(type), null, `type 0x${type.toString(16)}`);
  });

  it('PING is 0x05 and PONG 0x06, and no other type is either', () => {
    for (let type = 0; type < 256; type++) {
      const kind = parseRecordType(type)?.kind;
      assert.equal(kind === 'ping', type === 0x05, `type 0x${type.toString(16)}`);
      assert.equal(kind === 'pong', type === 0x06, `type 0x${type.toString(16)}`);
    }
  });
});

describe('servers survive their clients', () => {
  it('a callback that throws because its client vanished does not take the server down', async () => {
    const errors: unknown[] = [];
    const server = createServer(
      { identity: serverId, onChannelError: (error) => errors.push(error) },
      async (channel) => {
        for await (const message of channel) await channel.send(message);
      },
    );
    const port = await serve(server);
    const channel = await connect({ port, identity: clientId, trust: 'any' });
    await channel.send('x');
    await channel.receive();
    channel.socket.destroy();
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(errors[0] instanceof NetcryptError && errors[0].code === 'ERR_TRUNCATED');
    const again = await connect({ port, identity: clientId, trust: 'any' });
    await again.send('server still up');
    assert.equal((await again.receive()).toString(), 'server still up');
    await again.close();
  });

  it('a client that resets while the seed server is still generating its key is harmless', async () => {
    const listener = net.createServer();
    const port = await serve(listener);
    const exchanged = new Promise<unknown>((resolve) =>
      listener.once('connection', (conn) => {
        const protocol = new ServerProtocol({ keySize: 2048 });
        protocol.publicKeyExchange(conn).then(resolve, resolve);
      }),
    );
    const client = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    client.resetAndDestroy();
    const outcome = await exchanged;
    assert.ok(outcome instanceof NetcryptError && outcome.code === 'ERR_TRUNCATED', String(outcome));
  });

  it('a flood of empty messages to a reader that is not reading pauses the socket', async () => {
    let serverChannel!: SecureChannel;
    const server = createServer({ identity: serverId }, (channel) => {
      serverChannel = channel;
    });
    const port = await serve(server);
    const client = await connect({ port, identity: clientId, trust: 'any' });
    for (let i = 0; i < 20_000; i++) void client.send(new Uint8Array(0)).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(serverChannel.socket.isPaused(), 'empty messages count against the inbox limit');
    client.destroy();
  });

  it('close() settles even when the peer stops reading', { timeout: 30_000 }, async () => {
    const server = createServer({ identity: serverId }, (channel) => {
      channel.socket.pause(); // never reads again
    });
    const port = await serve(server);
    const channel = await connect({ port, identity: clientId, trust: 'any' });
    void channel.send(Buffer.alloc(8 << 20)).catch(() => {});
    // Without its own deadline this would wait for 'drain' forever; the test runner's timeout is the judge.
    await channel.close();
    assert.ok(channel.closed);
  });
});
