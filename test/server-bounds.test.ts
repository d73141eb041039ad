/**
 * createServer()'s server-wide bounds over real loopback sockets: a hog
 * that parks unfinished fragments is dropped while an honest client goes
 * on; maxConnections and maxHandshakes refuse the connection over them.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ErrorCode, NetcryptError } from '../src/errors.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { connect } from '../src/protocol/connect.ts';
import { type ServerOptions, createServer } from '../src/protocol/server.ts';
import { testIdentities } from './helpers/identities.ts';
import { connectRaw, serve } from './helpers/net.ts';
import { parkFragments, rawClient } from './helpers/server-peers.ts';
import { ServerReports } from './helpers/server-reports.ts';

const [serverId, clientId, hogId] = await testIdentities();
const MiB = 1024 * 1024;

/** An echo server with the given bounds; its reports are collected. */
async function echoServer(options: ServerOptions = {}) {
  const reports = new ServerReports();
  const served: Channel[] = [];
  const server = createServer({ identity: serverId, backend: 'native', handshakeRate: false, ...reports, ...options }, async (channel) => {
    served.push(channel);
    for await (const message of channel) await channel.send(message);
    await channel.close();
  });
  const port = await serve(server);
  return { port, reports, served };
}

async function roundTrip(channel: Channel, message: Buffer): Promise<void> {
  await channel.send(message);
  const echoed = await channel.receive();
  assert.equal(createHash('sha256').update(echoed).digest('hex'), createHash('sha256').update(message).digest('hex'));
}

function honest(port: number): Promise<Channel> {
  return connect({ port, identity: clientId, pin: serverId!.fingerprint, backend: 'native' });
}

describe('server bounds: buffered peer data', () => {
  it('a hog parking unfinished fragments is dropped with ERR_BUDGET_EXCEEDED; an honest client keeps being served', { timeout: 60_000 }, async () => {
    // Budget = maxMessageBytes: the server-wide budget, not the per-message limit, is what stops the hog.
    const { port, reports } = await echoServer({ inboundBudgetBytes: 4 * MiB, maxMessageBytes: 4 * MiB });
    const client = await honest(port);
    await roundTrip(client, Buffer.from('before'));
    const hog = await rawClient(port, hogId!);
    const parking = parkFragments(hog, 8 * MiB);
    // Small messages and one fragmented 1.5 MiB message while the hog fills the budget: the hog always holds more.
    for (let i = 0; i < 20; i++) await roundTrip(client, Buffer.from(`during ${i}`));
    await roundTrip(client, Buffer.alloc(1.5 * MiB, 7));
    const dropped = await reports.next((r) => r.kind === 'channel');
    assert.deepEqual(dropped, { kind: 'channel', code: ErrorCode.BUDGET_EXCEEDED, who: hogId!.fingerprint });
    await parking;
    await hog.closed;
    for (let i = 0; i < 5; i++) await roundTrip(client, Buffer.from(`after ${i}`));
    await roundTrip(client, Buffer.alloc(3 * MiB, 9)); // the hog's share is back in the budget
    await client.close();
    assert.equal(reports.count((r) => r.who === clientId!.fingerprint), 0);
  });

  it('a message left unfinished past unfinishedMessageTimeoutMs drops its sender with ERR_TIMEOUT; others go on', { timeout: 60_000 }, async () => {
    const { port, reports } = await echoServer({ unfinishedMessageTimeoutMs: 200 });
    const client = await honest(port);
    const hog = await rawClient(port, hogId!);
    await parkFragments(hog, 100 * 1024);
    let sent = 0;
    // Complete messages only, before and after the hog's deadline: the honest client never has one unfinished.
    while (reports.count(() => true) === 0) await roundTrip(client, Buffer.from(`message ${sent++}`));
    assert.deepEqual(reports.all, [{ kind: 'channel', code: ErrorCode.TIMEOUT, who: hogId!.fingerprint }]);
    await hog.closed;
    await roundTrip(client, Buffer.from('still here'));
    await client.close();
  });

  it('refuses a budget below maxMessageBytes, which no message of the largest size could fit', () => {
    assert.throws(
      () => createServer({ identity: serverId, inboundBudgetBytes: MiB, maxMessageBytes: 2 * MiB }, () => {}),
      (error: unknown) => error instanceof NetcryptError && error.code === ErrorCode.INVALID_ARGUMENT,
    );
    for (const bad of [0, -1, 1.5, NaN]) {
      assert.throws(() => createServer({ identity: serverId, maxConnections: bad }, () => {}), /maxConnections/);
      assert.throws(() => createServer({ identity: serverId, maxHandshakes: bad }, () => {}), /maxHandshakes/);
    }
  });
});

describe('server bounds: connections', () => {
  it('maxConnections refuses the connection over it with ERR_SERVER_BUSY; the open channels are still served', { timeout: 60_000 }, async () => {
    const { port, reports, served } = await echoServer({ maxConnections: 2 });
    const first = await honest(port);
    const second = await honest(port);
    await assert.rejects(honest(port), (error: unknown) => error instanceof NetcryptError);
    assert.deepEqual(await reports.next(() => true), { kind: 'handshake', code: ErrorCode.SERVER_BUSY, who: '127.0.0.1' });
    await roundTrip(first, Buffer.from('first'));
    await roundTrip(second, Buffer.from('second'));
    // Once a connection has gone, its place is free again.
    const gone = new Promise((resolve) => served[0]!.socket.once('close', resolve));
    await first.close();
    await gone;
    const third = await honest(port);
    await roundTrip(third, Buffer.from('third'));
    await Promise.all([second.close(), third.close()]);
  });

  it('maxHandshakes refuses a handshake over it with ERR_SERVER_BUSY; finished handshakes free their place', { timeout: 60_000 }, async () => {
    const { port, reports } = await echoServer({ maxHandshakes: 2 });
    // Two connections that never send their hello stay in the handshake.
    const stalled = [await connectRaw(port), await connectRaw(port)];
    for (const socket of stalled) socket.on('error', () => {});
    await assert.rejects(honest(port), (error: unknown) => error instanceof NetcryptError);
    assert.deepEqual(await reports.next(() => true), { kind: 'handshake', code: ErrorCode.SERVER_BUSY, who: '127.0.0.1' });
    for (const socket of stalled) socket.destroy();
    await reports.next(() => reports.count((r) => r.code === ErrorCode.TRUNCATED) === 2);
    const client = await honest(port);
    await roundTrip(client, Buffer.from('in'));
    await client.close();
  });
});

describe('server bounds: handshake rate per source', () => {
  it('a source over its bucket is refused with ERR_RATE_LIMITED, another source is not', { timeout: 60_000 }, async () => {
    const { port, reports } = await echoServer({ handshakeRate: { perSecond: 0.001, burst: 2 } });
    const clients = [await honest(port), await honest(port)];
    await assert.rejects(honest(port), (error: unknown) => error instanceof NetcryptError);
    assert.deepEqual(await reports.next(() => true), { kind: 'handshake', code: ErrorCode.RATE_LIMITED, who: '127.0.0.1' });
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const other = await connect({ socket, port, identity: clientId, pin: serverId!.fingerprint, backend: 'native' });
    await roundTrip(other, Buffer.from('from 127.0.0.2'));
    await Promise.all([...clients, other].map((channel) => channel.close()));
  });
});
