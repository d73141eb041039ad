/**
 * keepAliveMs and idleTimeoutMs over real loopback sockets (docs/PROTOCOL.md
 * §3, *Ping*): a peer that vanished without a FIN — a relay that stops
 * forwarding both ways and closes nothing — is ERR_TIMEOUT; a live quiet
 * peer is kept; a PING flood from a peer that does not read is refused;
 * an idle channel ends with the authenticated close.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { type Channel, NetcryptError, connect, createServer, isNetcryptError } from '../src/index.ts';
import { RecordType } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';
import { frameProxy, listen, serve } from './helpers/net.ts';
import { scriptedClient } from './helpers/scripted-peer.ts';

const [serverId, clientId] = await testIdentities();

/** A TCP relay that forwards both ways until freeze(); then it reads and drops everything, and closes nothing. */
async function freezableRelay(targetPort: number): Promise<{ port: number; freeze: () => void }> {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      from.on('data', (chunk: Buffer) => frozen || to.write(chunk));
      from.on('end', () => frozen || to.end());
      from.on('error', () => undefined);
    }
  });
  after(() => {
    server.close();
    for (const socket of sockets) socket.destroy();
  });
  return { port: await listen(server), freeze: () => (frozen = true) };
}

/** An echo server; `channels` collects the server side of each connection, `closes` their 'close' events. */
async function echoServer(options: Parameters<typeof createServer>[0] = {}) {
  const channels: Channel[] = [];
  const closes: Promise<NetcryptError | undefined>[] = [];
  const errors: unknown[] = [];
  const server = createServer({ identity: serverId, onChannelError: (error) => errors.push(error), ...options }, async (channel) => {
    channels.push(channel);
    closes.push(closeEvent(channel));
    for await (const message of channel) await channel.send(message);
    await channel.close();
  });
  return { port: await serve(server), channels, closes, errors };
}

function closeEvent(channel: Channel): Promise<NetcryptError | undefined> {
  return new Promise((resolve) => channel.once('close', resolve));
}

describe('keepAliveMs', () => {
  it('a peer behind a relay that stops forwarding both ways, closing nothing, is ERR_TIMEOUT on both sides', async () => {
    const { port, closes } = await echoServer({ keepAliveMs: 50 });
    const relay = await freezableRelay(port);
    const client = await connect({ port: relay.port, identity: clientId, pin: serverId!.fingerprint, keepAliveMs: 50 });
    await client.send('before');
    assert.equal((await client.receive()).toString(), 'before');
    const clientClosed = closeEvent(client);
    relay.freeze();
    const [clientError, serverError] = await Promise.all([clientClosed, closes[0]!]);
    assert.ok(isNetcryptError(clientError, 'ERR_TIMEOUT'), String(clientError));
    assert.ok(isNetcryptError(serverError, 'ERR_TIMEOUT'), String(serverError));
    assert.match(clientError.message, /keepAliveMs × 3/);
    assert.equal(client.closedCleanly, false);
    await assert.rejects(client.send('after'), (error: unknown) => isNetcryptError(error, 'ERR_TIMEOUT'));
  });

  it('a vanished peer is found by the side that has keepalive, while it goes on sending into the void', async () => {
    const { port } = await echoServer();
    const relay = await freezableRelay(port);
    const client = await connect({ port: relay.port, identity: clientId, pin: serverId!.fingerprint, keepAliveMs: 50 });
    const closed = closeEvent(client);
    relay.freeze();
    // Sends still succeed locally (the relay reads and drops them): only the silence gives the peer away.
    let sent = 0;
    const sending = (async () => {
      while (!client.closed) {
        await client.send(`message ${sent++}`).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    assert.ok(isNetcryptError(await closed, 'ERR_TIMEOUT'));
    await sending;
    assert.ok(sent > 0);
  });

  it('a live quiet peer is kept over many intervals: PINGs and PONGs cross (seen on the wire), then messages still flow', async () => {
    const { port, errors } = await echoServer({ keepAliveMs: 150 });
    const seen = { c2s: [] as number[], s2c: [] as number[] };
    let onFrame: (() => void) | undefined;
    // Record types travel in clear (only authenticated): the relay can count PINGs and PONGs without a key.
    const relay = await frameProxy(port, (direction, frame) => {
      seen[direction].push(frame[0]!);
      onFrame?.();
      return [frame];
    });
    after(relay.close);
    const client = await connect({ port: relay.port, identity: clientId, pin: serverId!.fingerprint, keepAliveMs: 150 });
    const count = (types: number[], type: number) => types.filter((t) => t === type).length;
    const pings = () => count(seen.c2s, RecordType.PING) + count(seen.s2c, RecordType.PING);
    const pongs = () => count(seen.c2s, RecordType.PONG) + count(seen.s2c, RecordType.PONG);
    while (pongs() < 4) await new Promise<void>((resolve) => (onFrame = resolve));
    assert.ok(pings() >= pongs(), 'every PONG answered a PING');
    assert.equal(client.closed, false, 'four intervals of silence but for PINGs and PONGs: the channel is kept');
    await client.send('still here');
    assert.equal((await client.receive()).toString(), 'still here');
    await client.close();
    assert.equal(client.closedCleanly, true);
    assert.deepEqual(errors, []);
  });

  it('a peer that floods PINGs without reading the PONGs is ERR_PROTOCOL once its answer cannot leave', async () => {
    const { port, channels } = await echoServer();
    const peer = await scriptedClient(port, clientId!, { suite: 'a256gcm' });
    peer.socket.pause(); // never reads a PONG
    while (channels.length === 0) await new Promise((resolve) => setImmediate(resolve));
    const closed = closeEvent(channels[0]!);
    let outcome: NetcryptError | undefined | 'open' = 'open';
    void closed.then((error) => (outcome = error));
    const value = Buffer.alloc(8);
    for (let round = 0; outcome === 'open' && round < 1000; round++) {
      const flood: Buffer[] = [];
      for (let i = 0; i < 2000; i++) {
        value.writeUInt32BE(round * 2000 + i, 4);
        flood.push(peer.record(RecordType.PING, value));
      }
      if (!peer.socket.write(Buffer.concat(flood))) await new Promise((resolve) => peer.socket.once('drain', resolve).once('close', resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const error = await closed;
    assert.ok(isNetcryptError(error, 'ERR_PROTOCOL'), String(error));
    assert.match(error.message, /PING record while the PONG to the previous one could not be sent yet/);
    peer.socket.destroy();
  });

  it('refuses a keepAliveMs that is not a positive integer', async () => {
    const { port } = await echoServer();
    for (const keepAliveMs of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(connect({ port, identity: clientId, pin: serverId!.fingerprint, keepAliveMs }), (error: unknown) => isNetcryptError(error, 'ERR_INVALID_ARGUMENT'));
    }
  });
});

describe('idleTimeoutMs', () => {
  it('closes a channel without application traffic with the authenticated close; both ends see a clean close', async () => {
    const { port, channels, closes, errors } = await echoServer();
    const client = await connect({ port, identity: clientId, pin: serverId!.fingerprint, idleTimeoutMs: 100 });
    await client.send('one message');
    assert.equal((await client.receive()).toString(), 'one message');
    assert.equal(await closeEvent(client), undefined);
    assert.equal(client.closedCleanly, true);
    assert.equal(client.closeReason, 'idle');
    assert.equal(await closes[0], undefined);
    assert.equal(channels[0]!.closeReason, 'peer');
    assert.deepEqual(errors, []);
  });

  it('a server with idleTimeoutMs closes a quiet client; the client reads the end of the stream, not an error', async () => {
    const { port, channels, closes, errors } = await echoServer({ idleTimeoutMs: 100 });
    const client = await connect({ port, identity: clientId, pin: serverId!.fingerprint });
    const received: Buffer[] = [];
    for await (const message of client) received.push(message);
    assert.deepEqual(received, []);
    assert.equal(client.closeReason, 'peer');
    await client.close();
    assert.equal(client.closedCleanly, true);
    assert.equal(await closes[0], undefined);
    assert.equal(channels[0]!.closeReason, 'idle');
    assert.deepEqual(errors, []);
  });

  it('PINGs and PONGs are not traffic: a keepalive channel with no messages still goes idle', async () => {
    const { port } = await echoServer({ keepAliveMs: 20 });
    const client = await connect({ port, identity: clientId, pin: serverId!.fingerprint, keepAliveMs: 20, idleTimeoutMs: 200 });
    assert.equal(await closeEvent(client), undefined);
    assert.equal(client.closeReason, 'idle');
  });

  it('a request in flight is traffic: a handler slower than the timeout still answers, then the channel goes idle', async () => {
    const server = createServer({ identity: serverId }, (channel) => {
      channel.onRequest(async (data) => {
        await new Promise((resolve) => setTimeout(resolve, 400));
        return `slow ${data}`;
      });
      channel.once('end', () => void channel.close());
    });
    const port = await serve(server);
    const client = await connect({ port, identity: clientId, pin: serverId!.fingerprint, idleTimeoutMs: 100 });
    const closed = closeEvent(client);
    assert.equal((await client.request('answer')).toString(), 'slow answer');
    assert.equal(await closed, undefined);
    assert.equal(client.closeReason, 'idle');
  });

  it('messages keep it open: twenty exchanges spread over more than twice the timeout', async () => {
    const { port } = await echoServer();
    const client = await connect({ port, identity: clientId, pin: serverId!.fingerprint, idleTimeoutMs: 300 });
    for (let i = 0; i < 20; i++) {
      await client.send(`ping ${i}`);
      assert.equal((await client.receive()).toString(), `ping ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 35));
    }
    assert.equal(client.closeReason, undefined);
    await client.close();
    assert.equal(client.closeReason, 'local');
    assert.equal(client.closedCleanly, true);
  });
});
