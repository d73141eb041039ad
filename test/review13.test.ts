/**
 * Adversarial review of issue #13 (requests, PING/PONG, send queue, server
 * lifecycle, any Duplex): hostile peers over real loopback sockets and
 * in-memory pairs. Each test is a finding of the review; none is timed.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { SecureChannel } from '../src/channel/secure-channel.ts';
import { ErrorCode, type NetcryptError, isNetcryptError } from '../src/errors.ts';
import { REQUEST_LANE, encodeCancel, encodeRequest } from '../src/wire/request-messages.ts';
import { loopbackPair } from './helpers/loopback-pair.ts';
import { memoryChannels } from './helpers/memory-pair.ts';

const MiB = 1024 * 1024;

function closeReason(channel: SecureChannel): Promise<NetcryptError | undefined> {
  return once(channel, 'close').then(([error]) => error as NetcryptError | undefined);
}

const turn = () => new Promise((resolve) => setImmediate(resolve));
/** A hostile requester: lane-3 bytes straight onto the wire, bypassing this side's own request bookkeeping. */
const raw = (client: SecureChannel, bytes: Buffer) => void client.sendOnLane(REQUEST_LANE, bytes).catch(() => {});

describe('review13: the request lane under a hostile requester', () => {
  it('a requester that never reads its answers cannot make the responder queue them without bound', async () => {
    // Each 9-byte request is answered with 64 KiB: without backpressure, reading requests on turns them into queued replies.
    const reply = Buffer.alloc(64 * 1024, 0x5a);
    let handled = 0;
    const { client, server } = await loopbackPair({
      onServer: (channel) =>
        channel.onRequest(() => {
          handled++;
          return reply;
        }),
    });
    client.transport.pause(); // reads nothing from here on, answers included
    let finished = false;
    void closeReason(server).then(() => (finished = true));
    const total = 1000; // 64 MiB of answers if every one were queued
    let peak = 0;
    for (let id = 1; id <= total; ) {
      for (let i = 0; i < 8 && id <= total; i++) raw(client, encodeRequest(id++, Buffer.alloc(0)));
      await turn();
      peak = Math.max(peak, server.bufferedAmount);
    }
    // Until the server has handled every request or ended the channel (requests that wait for room are outstanding: the 129th is too many).
    while (!finished && handled < total) {
      await turn();
      peak = Math.max(peak, server.bufferedAmount);
    }
    peak = Math.max(peak, server.bufferedAmount);
    assert.ok(peak < 24 * MiB, `the server queued ${(peak / MiB).toFixed(1)} MiB of answers for a peer that reads none (${handled} handled)`);
  });

  it('a request body held by its handler pins only its own bytes, not the whole record it arrived in', async () => {
    const bodies: Buffer[] = [];
    let got!: () => void;
    const arrived = new Promise<void>((resolve) => (got = resolve));
    const { client } = await loopbackPair({
      onServer: (channel) =>
        channel.onRequest((data) => {
          bodies.push(data);
          got();
          return new Promise<string>(() => {}); // held, as by a slow handler
        }),
    });
    // Request 1 is cancelled at once, so that further CANCELs of it are dropped silently (§3.1): free padding.
    raw(client, encodeRequest(1, Buffer.alloc(0)));
    raw(client, encodeCancel(1));
    await client.flush();
    // One 1-byte request, then 64 KiB of ignored CANCELs in the same BATCH record.
    raw(client, encodeRequest(2, Buffer.from('x')));
    for (let i = 0; i < 4000; i++) raw(client, encodeCancel(1));
    await arrived;
    const [body] = bodies;
    assert.equal(body!.toString(), 'x');
    // The server's inbound budget charges a held request its length plus 256 bytes; it must not hold more than that.
    assert.ok(body!.buffer.byteLength <= body!.length + 256, `a 1-byte request keeps a ${body!.buffer.byteLength}-byte buffer alive`);
  });
});

describe('review13: keepalive while answers wait for the peer', () => {
  it('a peer that stops reading its answers and then goes silent is still found by keepAliveMs', { timeout: 120_000 }, async () => {
    const reply = Buffer.alloc(64 * 1024, 0x5a);
    const { client, server } = await loopbackPair({ server: { keepAliveMs: 100 }, onServer: (channel) => channel.onRequest(() => reply) });
    client.transport.pause(); // from here on it reads nothing, PINGs included
    const reason = closeReason(server);
    let finished = false;
    void reason.then(() => (finished = true));
    // 6 MiB of answers back up at the server, within the 128 outstanding; then the peer says nothing more.
    for (let id = 1; id <= 100; id++) raw(client, encodeRequest(id, Buffer.alloc(0)));
    // The server hears nothing from it: without a verdict this would wait for TCP's own give-up.
    const error = await reason;
    assert.ok(isNetcryptError(error, ErrorCode.TIMEOUT), `the server ended with ${error?.code}`);
  });
});

describe('review13: cancelled requests whose handlers go on', () => {
  it('a peer that cancels every request cannot make this side run more than 128 + 128 handlers at once', { timeout: 120_000 }, async () => {
    // Handlers that do not stop when cancelled (a query without a signal, say): each holds what it holds until it ends.
    let running = 0;
    let peak = 0;
    let starts = 0;
    const releases: (() => void)[] = [];
    let started: () => void = () => {};
    const { client, server } = await loopbackPair({
      onServer: (channel) => {
        channel.onRequest(() => {
          peak = Math.max(peak, ++running);
          starts++;
          started();
          return new Promise<string>((resolve) => releases.push(() => resolve('late')));
        });
        channel.on('message', (message) => void channel.send(message));
      },
    });
    client.onLane(REQUEST_LANE, () => {}); // a raw peer: answers to what it sent by hand are not its lane's business
    let id = 0;
    for (; id < 300; ) {
      const before = starts;
      raw(client, encodeRequest(++id, Buffer.alloc(0)));
      // A message behind it comes back once the server has read the request, by when its handler has started, or waits.
      await client.send('read?');
      await client.receive();
      if (starts === before) break; // it waits: this side stopped starting handlers
      raw(client, encodeCancel(id));
    }
    // 128 outstanding as the protocol allows, and at most 128 (+1, the one whose cancel makes the next wait) it cancelled.
    assert.ok(peak <= 2 * 128 + 1, `${peak} handlers ran at once for one peer`);
    assert.ok(id < 300, 'every request ran its handler at once');
    assert.equal(server.closed, false);
    // Once the cancelled handlers end, the waiting request runs.
    const waitingRuns = new Promise<void>((resolve) => (started = resolve));
    for (const release of releases.splice(0)) release();
    await waitingRuns;
    assert.equal(starts, id);
  });
});

describe('review13: both sides answering each other', () => {
  it('two sides whose large answers back up at each other both keep going: no deadlock', { timeout: 300_000 }, async () => {
    const reply = Buffer.alloc(512 * 1024, 0x33);
    const { client, server } = await loopbackPair({ onServer: (channel) => channel.onRequest(() => reply) });
    client.onRequest(() => reply);
    // 2 × 128 requests in flight each way, each answered with 512 KiB: far more than both sides' buffers hold at once.
    const calls: Promise<Buffer>[] = [];
    for (let round = 0; round < 2; round++) {
      const batch = [];
      for (let i = 0; i < 128; i++) batch.push(client.request('c'), server.request('s'));
      calls.push(...batch);
      await Promise.all(batch);
    }
    for (const answer of await Promise.all(calls)) assert.equal(answer.length, reply.length);
  });
});

describe('review13: findings fixed by the coordinator', () => {
  it('a requester whose maxMessageBytes is below 9 + 1 MiB still gets a 1 MiB reply that §3.1 allows: lane 3 has its own limit', async () => {
    const reply = Buffer.alloc(1024 * 1024, 0x5a);
    const { client, server } = await memoryChannels({ client: { maxMessageBytes: 65536 }, server: { maxMessageBytes: 65536 } });
    server.onRequest(() => reply);
    client.onRequest((body) => body);
    assert.deepEqual(await client.request('big, please'), reply);
    // The other way: a request body above this side's limit for application messages.
    assert.deepEqual(await server.request(reply), reply);
    // Application messages keep the channel's limit.
    await assert.rejects(client.send(Buffer.alloc(65537)), { code: 'ERR_INVALID_ARGUMENT' });
    await Promise.all([client.close(), server.close()]);
    assert.ok(client.closedCleanly && server.closedCleanly);
  });
});
