/**
 * Adversarial review of the issue 10 bounds (review-bounds): what a hostile
 * peer can make a receiver hold or do, over real loopback sockets where the
 * bound is a connection's.
 *
 * - The inbound budget's accounting is symmetric: whatever way a hostile
 *   connection ends (reset, FIN, handshake timeout, unfinished-message
 *   timeout, tampered record, dropped by the pool), every byte it was
 *   charged goes back, so the server never slowly refuses everyone.
 * - The frame decoder's memory is bounded by the bytes it holds, whatever
 *   the chunking: a peer dripping a frame a byte at a time must not make
 *   each byte cost a Buffer object that no byte count sees.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode } from '../src/errors.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { connect, secureSocket } from '../src/protocol/connect.ts';
import { InboundPool } from '../src/protocol/inbound-pool.ts';
import { createServer } from '../src/protocol/server.ts';
import { FrameDecoder, frameHeader } from '../src/wire/frames.ts';
import { MAX_RECORD_FRAME, MAX_RECORD_PLAINTEXT, RecordType, batchRecordType, laneRecordType } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';
import { connectRaw, serve } from './helpers/net.ts';
import { ServerReports } from './helpers/server-reports.ts';
import { batchPlaintext, scriptedClient } from './helpers/scripted-peer.ts';
import { type RawPeer, parkFragments, rawClient } from './helpers/server-peers.ts';

const [serverId, clientId, hogId] = await testIdentities();
const KiB = 1024;
const MiB = 1024 * KiB;

/** Resolves once `socket` has closed (whoever closed it). */
function closedOf(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed && socket.closed ? resolve() : socket.once('close', () => resolve())));
}

/** The hostile ways a connection can hold charged bytes and then end. Each resolves once the client side is closed. */
const hostile: Record<string, (port: number) => Promise<void>> = {
  'reset at once': async (port) => {
    const socket = await connectRaw(port);
    socket.on('error', () => {});
    socket.resetAndDestroy();
    await closedOf(socket);
  },
  'half a frame header, then FIN': async (port) => {
    const socket = await connectRaw(port);
    socket.on('error', () => {});
    socket.resume(); // the server's hello is read and dropped, so its end is seen
    socket.end(Buffer.from([0, 0]));
    await closedOf(socket);
  },
  'most of a handshake frame, then silence until the handshake timeout': async (port) => {
    const socket = await connectRaw(port);
    socket.on('error', () => {});
    socket.resume();
    socket.write(Buffer.concat([frameHeader(4096), randomBytes(4000)]));
    await closedOf(socket);
  },
  'a message in progress, then reset': async (port) => {
    const peer = await rawClient(port, hogId!);
    await parkFragments(peer, 256 * KiB);
    peer.socket.resetAndDestroy();
    await peer.closed;
  },
  'most of a record frame, then FIN': async (port) => {
    const peer = await rawClient(port, hogId!);
    peer.socket.end(Buffer.concat([frameHeader(MAX_RECORD_FRAME), randomBytes(MAX_RECORD_FRAME - 100)]));
    await peer.closed;
  },
  'a message left unfinished until the server times it out': async (port) => {
    const peer = await rawClient(port, hogId!);
    await parkFragments(peer, 128 * KiB);
    await peer.closed;
  },
  'a message in progress, then a tampered record (ERR_AUTH, alert, linger)': async (port) => {
    const peer = await rawClient(port, hogId!);
    await parkFragments(peer, 128 * KiB);
    const [frame] = peer.sealer.seal(laneRecordType(0, false), Buffer.alloc(MAX_RECORD_PLAINTEXT));
    frame![frame!.length - 1]! ^= 1;
    peer.socket.write(frame!);
    await peer.closed;
  },
  'CLOSE, then most of another frame, then reset': async (port) => {
    const peer = await rawClient(port, hogId!);
    await parkFragments(peer, 64 * KiB);
    for (const frame of peer.sealer.seal(RecordType.CLOSE, new Uint8Array(0))) peer.socket.write(frame);
    peer.socket.write(Buffer.concat([frameHeader(MAX_RECORD_FRAME), randomBytes(30_000)]));
    peer.socket.resetAndDestroy();
    await peer.closed;
  },
  'more than the budget, parked (the pool drops it)': async (port) => {
    const peer: RawPeer = await rawClient(port, hogId!);
    await parkFragments(peer, 3 * MiB);
    peer.socket.destroy();
    await peer.closed;
  },
};

describe('review: the inbound budget returns to zero however hostile connections end', () => {
  it('every byte charged by 90 hostile connections is refunded once they are gone', { timeout: 120_000 }, async () => {
    const pool = new InboundPool(2 * MiB);
    let charged = 0;
    let refunded = 0;
    const serverSockets = new Set<Promise<void>>();
    const server = net.createServer((socket) => {
      serverSockets.add(closedOf(socket));
      let channel: Channel | undefined;
      const account = pool.open((error) => (channel ? channel.destroy(error) : socket.destroy()));
      socket.once('close', () => account.close());
      const budget = {
        charge: (bytes: number) => {
          const ok = account.charge(bytes);
          if (ok) charged += bytes;
          return ok;
        },
        refund: (bytes: number) => {
          refunded += bytes;
          assert.ok(refunded <= charged, `refunded ${refunded} of ${charged} charged`);
          account.refund(bytes);
        },
      };
      secureSocket(socket, 'server', { identity: serverId, backend: 'native', handshakeTimeoutMs: 500, maxMessageBytes: 2 * MiB }, {
        inboundBudget: budget,
        unfinishedMessageTimeoutMs: 300,
      }).then(
        async (ready) => {
          channel = ready;
          try {
            for await (const message of ready) await ready.send(message);
            await ready.close();
          } catch {
            // the hostile peers end their channels in every way there is
          }
        },
        () => {},
      );
    });
    const port = await serve(server);
    for (let round = 0; round < 10; round++) {
      await Promise.all(Object.values(hostile).map((attack) => attack(port)));
    }
    await Promise.all(serverSockets);
    assert.ok(charged > 10 * MiB, `the hostile peers were charged ${charged} bytes`);
    assert.equal(charged - refunded, 0, 'bytes charged and never refunded');
    assert.equal(pool.usedBytes, 0, 'the pool holds bytes of connections that are gone');
  });

  it('through createServer(): after the same crowd, an honest message of most of the budget still passes', { timeout: 120_000 }, async () => {
    const codes: string[] = [];
    const server = createServer(
      {
        identity: serverId,
        backend: 'native',
        handshakeRate: false,
        handshakeTimeoutMs: 500,
        unfinishedMessageTimeoutMs: 300,
        inboundBudgetBytes: 2 * MiB,
        maxMessageBytes: 2 * MiB,
        onChannelError: (error) => codes.push(String((error as { code?: string }).code)),
      },
      async (channel) => {
        for await (const message of channel) await channel.send(message);
        await channel.close();
      },
    );
    const port = await serve(server);
    for (let round = 0; round < 5; round++) await Promise.all(Object.values(hostile).map((attack) => attack(port)));
    const client = await connect({ port, identity: clientId, pin: serverId!.fingerprint, backend: 'native', maxMessageBytes: 2 * MiB });
    const message = randomBytes(1.5 * MiB);
    await client.send(message);
    assert.ok((await client.receive()).equals(message));
    await client.close();
    assert.ok(codes.includes(ErrorCode.BUDGET_EXCEEDED) || codes.includes(ErrorCode.TIMEOUT), `reports: ${codes.join(', ')}`);
  });
});

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/** JS heap plus ArrayBuffer memory still reachable, after a full collection. */
function heldMemory(): number {
  collectGarbage();
  return v8.getHeapStatistics().used_heap_size + process.memoryUsage().arrayBuffers;
}

describe('review: one source address cannot take every connection', () => {
  it('past maxConnectionsPerSource a source is refused with ERR_SERVER_BUSY, another source still gets in', { timeout: 60_000 }, async () => {
    const reports = new ServerReports();
    const server = createServer(
      { identity: serverId, backend: 'native', handshakeRate: false, maxConnections: 8, maxConnectionsPerSource: 3, ...reports },
      async (channel) => {
        for await (const message of channel) await channel.send(message);
        await channel.close();
      },
    );
    const port = await serve(server);
    const from = async (localAddress: string) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress });
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      return connect({ socket, port, identity: clientId, pin: serverId!.fingerprint, backend: 'native' });
    };
    const echo = async (channel: Channel, text: string) => {
      await channel.send(text);
      assert.equal((await channel.receive()).toString(), text);
    };
    // Three established, idle channels from one address: without a per-source cap it could hold all maxConnections.
    const held = [await from('127.0.0.1'), await from('127.0.0.1'), await from('127.0.0.1')];
    await assert.rejects(from('127.0.0.1'), (error: unknown) => error instanceof Error);
    assert.deepEqual(await reports.next(() => true), { kind: 'handshake', code: ErrorCode.SERVER_BUSY, who: '127.0.0.1' });
    const other = await from('127.0.0.2');
    await echo(other, 'from 127.0.0.2');
    // A place freed is the source's again.
    const freed = reports.all.length;
    await held.pop()!.close();
    let again: Channel | undefined;
    while (!again) again = await from('127.0.0.1').catch(() => undefined);
    await echo(again, 'again');
    assert.ok(reports.all.slice(freed).every((report) => report.code === ErrorCode.SERVER_BUSY), JSON.stringify(reports.all));
    await Promise.all([...held, other, again].map((channel) => channel.close()));
  });
});

describe('review: lane messages held for a layer that never attaches count against the budget', () => {
  it('peers parking file-lane messages on a server that reads none are dropped once they hold more than the budget', { timeout: 120_000 }, async () => {
    const codes: string[] = [];
    const server = createServer(
      {
        identity: serverId,
        backend: 'native',
        handshakeRate: false,
        inboundBudgetBytes: 4 * MiB,
        maxMessageBytes: 1 * MiB,
        onChannelError: (error) => codes.push(String((error as { code?: string }).code)),
      },
      async (channel) => {
        for await (const message of channel) await channel.send(message);
        await channel.close();
      },
    );
    const port = await serve(server);
    const hogs = 8;
    const parked = 15 * 60 * KiB; // under the 16 messages and 1 MiB a channel holds for a lane nothing reads
    const peers = await Promise.all(Array.from({ length: hogs }, () => scriptedClient(port, hogId!)));
    // Every hog keeps its connection until all have parked: together they hold 7.2 MiB.
    await Promise.all(
      peers.map(async (peer) => {
        for (let i = 0; i < 15; i++) peer.socket.write(peer.record(laneRecordType(1, true), Buffer.alloc(60 * KiB, i)));
        // A lane-0 message behind them.
        peer.socket.write(peer.record(batchRecordType(0), batchPlaintext(Buffer.from('ping'))));
        // Any answer to it (its echo, or an alert) means the server has taken everything before it.
        const answered = new Promise<void>((resolve) => {
          const check = () => (peer.frames.length > 0 ? resolve() : peer.socket.once('data', () => setImmediate(check)));
          check();
        });
        await Promise.race([answered, peer.closed]);
      }),
    );
    // Each charge that overran the budget dropped a holder at once, before the server answered the charging hog.
    const dropped = codes.filter((code) => code === ErrorCode.BUDGET_EXCEEDED).length;
    const fit = Math.floor((4 * MiB) / parked);
    assert.ok(dropped >= hogs - fit, `${hogs - dropped} hogs still hold ${(hogs - dropped) * parked} bytes of unread lane messages; the budget is ${4 * MiB} (reports: ${codes.join(', ')})`);
    for (const peer of peers) peer.socket.destroy();
  });
});

describe('review: the frame decoder holds what it was sent, not an object per chunk', () => {
  it('a record frame dripped one byte per chunk keeps at most a few bytes of heap per byte held', () => {
    const decoder = new FrameDecoder(MAX_RECORD_FRAME);
    const drip = (count: number) => {
      for (let i = 0; i < count; i++) {
        // A fresh ArrayBuffer per chunk, as a socket's reads deliver them.
        decoder.push(Buffer.from(new Uint8Array([i & 0xff]).buffer));
        assert.equal(decoder.next(), undefined);
      }
    };
    decoder.push(frameHeader(MAX_RECORD_FRAME));
    drip(1000); // warm up
    const before = heldMemory();
    const count = 60_000;
    drip(count);
    const growth = heldMemory() - before;
    assert.ok(growth <= 4 * count + 256 * KiB, `${growth} bytes of heap and buffers for ${count} bytes held`);
    drip(MAX_RECORD_FRAME - 1000 - count - 1);
    decoder.push(Buffer.from([0x5a]));
    const frame = decoder.next();
    assert.equal(frame?.length, MAX_RECORD_FRAME);
    assert.equal(frame![MAX_RECORD_FRAME - 1], 0x5a);
    assert.equal(frame![1], 1);
    assert.equal(decoder.bufferedBytes, 0);
  });

  it('whatever the chunking, yields exactly the frames sent, and a frame handed out is never overwritten by later bytes', () => {
    const frames = fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 12 });
    const cuts = fc.array(fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 700 }), fc.integer({ min: 500, max: 9000 })), { minLength: 1, maxLength: 200 });
    fc.assert(
      fc.property(frames, cuts, (payloads, sizes) => {
        const wire = Buffer.concat(payloads.flatMap((payload) => [frameHeader(payload.length), payload]));
        const decoder = new FrameDecoder(4096);
        const received: Buffer[] = [];
        for (let at = 0, i = 0; at < wire.length; i++) {
          const size = sizes[i % sizes.length]!;
          // Each chunk a fresh copy, and the source spoiled after the push: the decoder must not keep a view of it.
          const chunk = Buffer.from(wire.subarray(at, at + size));
          decoder.push(chunk);
          chunk.fill(0xee);
          at += size;
          for (let frame = decoder.next(); frame; frame = decoder.next()) received.push(frame);
        }
        assert.equal(decoder.bufferedBytes, 0);
        assert.deepEqual(received.map((frame) => Buffer.from(frame).toString('hex')), payloads.map((payload) => Buffer.from(payload).toString('hex')));
      }),
      { numRuns: 300 },
    );
  });
});

describe('review: application messages nobody reads count against the budget', () => {
  it('clients whose messages a server never reads are dropped once they hold more than the budget; read ones are refunded', { timeout: 120_000 }, async () => {
    const codes: string[] = [];
    const held: Channel<net.Socket>[] = [];
    const server = createServer(
      {
        identity: serverId,
        backend: 'native',
        handshakeRate: false,
        inboundBudgetBytes: 4 * MiB,
        maxMessageBytes: 1 * MiB,
        onChannelError: (error) => codes.push(String((error as { code?: string }).code)),
      },
      (channel) => {
        held.push(channel); // never read: the messages stay in the channel's inbox
        return new Promise<void>((resolve) => channel.once('close', () => resolve()));
      },
    );
    const port = await serve(server);
    const clients = 8;
    const perClient = 15 * 60 * KiB;
    const channels = await Promise.all(Array.from({ length: clients }, () => connect({ port, identity: clientId!, pin: serverId!.fingerprint, backend: 'native' })));
    await Promise.all(
      channels.map(async (channel) => {
        try {
          for (let i = 0; i < 15; i++) await channel.send(Buffer.alloc(60 * KiB, i));
          await channel.flush();
        } catch {
          // dropped by the server meanwhile
        }
      }),
    );
    // Until the server has taken in every byte sent (or dropped the sender), the count is not final.
    const settled = () => held.every((channel) => channel.closed || channel.socket.bytesRead >= perClient);
    while (held.length < clients || !settled()) await new Promise((resolve) => setTimeout(resolve, 20));
    const dropped = codes.filter((code) => code === ErrorCode.BUDGET_EXCEEDED).length;
    const fit = Math.floor((4 * MiB) / perClient);
    assert.ok(dropped >= clients - fit, `${clients - dropped} clients still hold ${(clients - dropped) * perClient} unread bytes; the budget is ${4 * MiB} (reports: ${codes.join(', ')})`);
    // What a server reads is refunded: a survivor's messages, once read, make room again.
    const survivor = held.find((channel) => !channel.closed)!;
    for (let i = 0; i < 15; i++) await survivor.receive();
    for (const channel of channels) channel.destroy();
    await server.close({ graceMs: 0 });
  });
});
