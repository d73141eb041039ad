/**
 * netcrypt over a WebSocket: a real `ws` WebSocketServer on loopback, each
 * end's WebSocket wrapped by ws's createWebSocketStream() and handed to
 * secureSocket() — the way across HTTP proxies and CDNs that pass only
 * WebSockets. Every record travels as one binary WebSocket message.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer, createWebSocketStream } from 'ws';
import { ErrorCode, NetcryptError } from '../src/errors.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { secureSocket } from '../src/protocol/connect.ts';
import { testIdentities } from './helpers/identities.ts';
import { removeDir, sha256File, tempDir, writeRandomFile } from './helpers/files-net.ts';

const [serverId, clientId] = await testIdentities();

interface Served {
  channel: Channel;
  socket: WebSocket;
}

/** A WebSocket server whose connections become netcrypt server channels, handed out in order. */
async function webSocketServer(): Promise<{ url: string; next: () => Promise<Served>; close: () => void }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const arrivals: Promise<Served>[] = [];
  const waiting: ((served: Promise<Served>) => void)[] = [];
  server.on('connection', (socket) => {
    const served = secureSocket(createWebSocketStream(socket), 'server', { identity: serverId, backend: 'native' }).then((channel) => ({ channel, socket }));
    served.catch(() => {});
    const waiter = waiting.shift();
    if (waiter) waiter(served);
    else arrivals.push(served);
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    next: () => arrivals.shift() ?? new Promise<Promise<Served>>((resolve) => waiting.push(resolve)).then((served) => served),
    close: () => {
      for (const client of server.clients) client.terminate();
      server.close();
    },
  };
}

async function dial(url: string): Promise<{ channel: Channel; socket: WebSocket }> {
  const socket = new WebSocket(url);
  // The stream buffers writes until the WebSocket is open: the handshake can start at once.
  const channel = await secureSocket(createWebSocketStream(socket), 'client', { identity: clientId, pin: serverId!.fingerprint, backend: 'native' });
  return { channel, socket };
}

const closeEvent = (channel: Channel) => new Promise<NetcryptError | undefined>((resolve) => channel.once('close', resolve));

describe('a channel over a WebSocket (ws, createWebSocketStream)', () => {
  let server: Awaited<ReturnType<typeof webSocketServer>>;
  let dir: string;
  before(async () => {
    server = await webSocketServer();
    dir = await tempDir('websocket');
  });
  after(async () => {
    server.close();
    await removeDir(dir);
  });

  it('carries messages both ways and a file (SHA-256 checked on disk), then closes with authenticated closes on both sides', async () => {
    const [client, served] = await Promise.all([dial(server.url), server.next()]);
    const peer = served.channel;
    assert.equal(client.channel.peerFingerprint, serverId!.fingerprint);
    assert.equal(peer.peerFingerprint, clientId!.fingerprint);
    assert.equal(client.channel.verificationCode, peer.verificationCode);

    await client.channel.send('over a WebSocket');
    assert.equal((await peer.receive()).toString(), 'over a WebSocket');
    const big = Buffer.alloc(2 * 1024 * 1024 + 3, 7);
    await peer.send(big);
    assert.deepEqual(await client.channel.receive(), big);

    const source = join(dir, 'payload.bin');
    await writeRandomFile(source, 5 * 1024 * 1024 + 123);
    const received = join(dir, 'received');
    await mkdir(received);
    const [sent, got] = await Promise.all([client.channel.sendFile(source), peer.receiveFile({ dir: received })]);
    const expected = await sha256File(source);
    assert.equal(sent.sha256, expected);
    assert.equal(got.sha256, expected);
    assert.equal(await sha256File(join(received, 'payload.bin')), expected, 'the bytes on disk are the bytes sent');

    await peer.send('the last word');
    assert.equal((await client.channel.receive()).toString(), 'the last word');

    const closes = [closeEvent(client.channel), closeEvent(peer)];
    const socketsClosed = [once(client.socket, 'close'), once(served.socket, 'close')];
    await Promise.all([client.channel.close(), peer.close()]);
    assert.deepEqual(await Promise.all(closes), [undefined, undefined]);
    assert.ok(client.channel.closedCleanly && peer.closedCleanly);
    // The WebSocket itself ended with its own closing handshake, not a dropped connection.
    const [[clientCode], [serverCode]] = (await Promise.all(socketsClosed)) as [[number], [number]];
    assert.notEqual(clientCode, 1006, 'the client WebSocket closed normally');
    assert.notEqual(serverCode, 1006, 'the server WebSocket closed normally');
  });

  it('one side closes, the other answers when it is done sending: both clean', async () => {
    const [client, served] = await Promise.all([dial(server.url), server.next()]);
    const closes = [closeEvent(client.channel), closeEvent(served.channel)];
    const closing = client.channel.close();
    await once(served.channel, 'end');
    await served.channel.close();
    await closing;
    assert.deepEqual(await Promise.all(closes), [undefined, undefined]);
  });

  it('a WebSocket dropped without an authenticated close is ERR_TRUNCATED, never a clean end', async () => {
    const [client, served] = await Promise.all([dial(server.url), server.next()]);
    const pending = served.channel.receive();
    const dropped = closeEvent(client.channel);
    client.socket.terminate();
    await assert.rejects(pending, (error) => error instanceof NetcryptError && error.code === ErrorCode.TRUNCATED);
    const reason = await dropped;
    assert.ok(reason instanceof NetcryptError, 'the side that dropped it does not look clean either');
    assert.equal(served.channel.closedCleanly, false);
  });
});
