/**
 * A server's lifecycle over real loopback sockets: server.channels and the
 * 'channel' event, close({ graceMs }) with peers that answer its CLOSE and
 * peers that do not, handshakes dropped at shutdown, a clean departure that
 * is not reported as an error, shutdown under load, and a server process
 * that exits by itself once close() resolved.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode, NetcryptError, isNetcryptError } from '../src/errors.ts';
import { connect } from '../src/protocol/connect.ts';
import type net from 'node:net';
import type { Channel as AnyChannel } from '../src/protocol/channel.ts';
import type { NetcryptServer } from '../src/protocol/netcrypt-server.ts';
import { type ServerOptions, createServer } from '../src/protocol/server.ts';
import { testIdentities } from './helpers/identities.ts';
import { connectRaw, listen } from './helpers/net.ts';

/** A channel over TCP, as connect() and createServer() hand out. */
type Channel = AnyChannel<net.Socket>;

const [serverId, clientId] = await testIdentities();

/** Errors the server reported, by kind. */
function reporting() {
  const channelErrors: unknown[] = [];
  const handshakeErrors: unknown[] = [];
  const options: ServerOptions = {
    identity: serverId,
    handshakeRate: false,
    onChannelError: (error) => channelErrors.push(error),
    onHandshakeError: (error) => handshakeErrors.push(error),
  };
  return { channelErrors, handshakeErrors, options };
}

/** Resolves with the next `count` channels the server hands over. */
function nextChannels(server: NetcryptServer, count: number): Promise<Channel[]> {
  const channels: Channel[] = [];
  return new Promise((resolve) => {
    const onChannel = (channel: Channel) => {
      channels.push(channel);
      if (channels.length < count) return;
      server.off('channel', onChannel);
      resolve(channels);
    };
    server.on('channel', onChannel);
  });
}

const dial = (port: number) => connect({ port, identity: clientId, pin: serverId!.fingerprint });

/** A client that answers the server's CLOSE with its own, as an application iterating its channel does. */
async function wellBehaved(channel: Channel): Promise<Buffer[]> {
  const received: Buffer[] = [];
  for await (const message of channel) received.push(message);
  await channel.close();
  return received;
}

/** The reason a channel's 'close' event gave, once it came. */
function closeReason(channel: Channel): Promise<NetcryptError | undefined> {
  return once(channel, 'close').then(([error]) => error as NetcryptError | undefined);
}

describe('server.channels and the channel event', () => {
  it("holds every channel handed over until its 'close', and the callback is optional", async () => {
    const server = createServer({ identity: serverId, handshakeRate: false });
    const port = await listen(server);
    const handed = nextChannels(server, 3);
    const clients = await Promise.all([dial(port), dial(port), dial(port)]);
    const channels = await handed;
    assert.equal(server.channels.size, 3);
    for (const channel of channels) assert.ok(server.channels.has(channel));
    assert.deepEqual(new Set(channels.map((channel) => channel.peerFingerprint)), new Set([clientId!.fingerprint]));
    // The set is for broadcast: one send per channel reaches every client.
    await Promise.all([...server.channels].map((channel) => channel.send('to everyone')));
    for (const client of clients) assert.equal((await client.receive()).toString(), 'to everyone');
    const gone = closeReason(channels[0]!);
    clients[0]!.destroy();
    await gone;
    assert.equal(server.channels.has(channels[0]!), false);
    assert.equal(server.channels.size, 2);
    await server.close({ graceMs: 0 });
    assert.equal(server.channels.size, 0);
  });

  it('the callback and the event both see each channel', async () => {
    const seen: string[] = [];
    const server = createServer({ identity: serverId, handshakeRate: false }, (channel) => {
      seen.push(`callback ${server.channels.has(channel)}`);
    });
    server.on('channel', (channel) => seen.push(`event ${server.channels.has(channel)}`));
    const port = await listen(server);
    const handed = nextChannels(server, 1);
    const client = await dial(port);
    await handed;
    assert.deepEqual(seen, ['event true', 'callback true']);
    client.destroy();
    await server.close({ graceMs: 0 });
  });
});

describe('server.close({ graceMs })', () => {
  it('with well-behaved clients: every channel closes cleanly on both sides, nothing is reported, and the port is released', async () => {
    const { channelErrors, handshakeErrors, options } = reporting();
    const server = createServer(options, async (channel) => {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    });
    const port = await listen(server);
    const handed = nextChannels(server, 5);
    const clients = await Promise.all(Array.from({ length: 5 }, () => dial(port)));
    const channels = await handed;
    await Promise.all(clients.map(async (client, index) => {
      await client.send(`hello ${index}`);
      assert.equal((await client.receive()).toString(), `hello ${index}`);
    }));
    const departures = clients.map(wellBehaved);
    const closeEvent = once(server, 'close');
    // A grace far longer than the test: close() resolves because every peer answered, not because it ran out.
    await server.close({ graceMs: 600_000 });
    await closeEvent;
    assert.deepEqual(await Promise.all(departures), [[], [], [], [], []]);
    for (const channel of [...clients, ...channels]) assert.equal(channel.closedCleanly, true);
    assert.equal(server.channels.size, 0);
    assert.equal(server.listening, false);
    assert.deepEqual(channelErrors, []);
    assert.deepEqual(handshakeErrors, []);
    await assert.rejects(dial(port), (error: unknown) => isNetcryptError(error, 'ERR_CONNECT'));
    // A second call is the first one's promise, already settled.
    await server.close();
  });

  it('a client that never answers the close is destroyed after the grace; the others still close cleanly', async () => {
    const { channelErrors, options } = reporting();
    const server = createServer(options, async (channel) => {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    });
    const port = await listen(server);
    const handed = nextChannels(server, 2);
    const silent = await dial(port);
    const polite = await dial(port);
    const [first, second] = await handed;
    const silentServerSide = first!.socket.remotePort === silent.socket.localPort ? first! : second!;
    const politeServerSide = silentServerSide === first ? second! : first!;
    // The silent one hears the CLOSE ('end') but its application never closes; its own linger is 30 s.
    const heard = once(silent, 'end');
    const silentReason = closeReason(silent);
    const serverSideReason = closeReason(silentServerSide);
    const departure = wellBehaved(polite);
    await server.close({ graceMs: 200 });
    await heard;
    assert.deepEqual(await departure, []);
    assert.equal(polite.closedCleanly, true);
    assert.equal(politeServerSide.closedCleanly, true);
    // Dropped by the server: had the client closed by itself, both CLOSEs would have crossed.
    assert.equal((await serverSideReason)?.code, ErrorCode.CLOSED);
    assert.equal(silentServerSide.closedCleanly, false);
    assert.ok(isNetcryptError(await silentReason), 'the silent client saw a clean close');
    assert.equal(silent.closedCleanly, false);
    assert.equal(server.channels.size, 0);
    // The server's own doing is not a channel error.
    assert.deepEqual(channelErrors, []);
  });

  it('messages queued before close() go out ahead of the CLOSE, in order', async () => {
    const server = createServer({ identity: serverId, handshakeRate: false });
    const port = await listen(server);
    const handed = nextChannels(server, 1);
    const client = await dial(port);
    const [channel] = await handed;
    const sends = Array.from({ length: 200 }, (_, i) => channel!.send(Buffer.alloc(i % 2 ? 100 : 70_000, i)));
    const closing = server.close({ graceMs: 600_000 });
    const received = await wellBehaved(client);
    await Promise.all([closing, ...sends]);
    assert.equal(received.length, 200);
    received.forEach((message, i) => assert.ok(message.length === (i % 2 ? 100 : 70_000) && message[0] === i % 256, `message ${i}`));
    assert.equal(client.closedCleanly, true);
  });

  it('a handshake that completes during the grace is closed cleanly, never handed over', { timeout: 120_000 }, async () => {
    const { channelErrors, handshakeErrors, options } = reporting();
    let handedOver = 0;
    const server = createServer(options, () => void handedOver++);
    const port = await listen(server);
    // A real client held inside its handshake: its verifyPeer waits until the server has begun to close.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let verifying!: () => void;
    const inVerify = new Promise<void>((resolve) => (verifying = resolve));
    const connecting = connect({
      port,
      identity: clientId,
      verifyPeer: async () => {
        verifying();
        await held;
      },
    });
    await inVerify;
    const closing = server.close({ graceMs: 600_000 });
    release();
    const client = await connecting;
    await once(client, 'end');
    await client.close();
    await closing;
    assert.equal(client.closedCleanly, true);
    assert.equal(handedOver, 0);
    assert.deepEqual(handshakeErrors, []);
    assert.deepEqual(channelErrors, []);
  });

  it('a handshake still unfinished after the grace is dropped, without a report', { timeout: 120_000 }, async () => {
    const { channelErrors, handshakeErrors, options } = reporting();
    // Only the grace can end this handshake: its own deadline is far longer than the test.
    const server = createServer({ ...options, handshakeTimeoutMs: 600_000 });
    const port = await listen(server);
    const accepted = once(server, 'connection');
    const raw = await connectRaw(port);
    await accepted;
    raw.resume();
    raw.on('error', () => {});
    const rawGone = once(raw, 'close');
    await server.close({ graceMs: 200 });
    await rawGone;
    assert.deepEqual(handshakeErrors, []);
    assert.deepEqual(channelErrors, []);
  });

  it('refuses a graceMs that is not a whole number of milliseconds', async () => {
    const server = createServer({ identity: serverId });
    for (const graceMs of [-1, 1.5, Number.NaN, Infinity]) {
      await assert.rejects(server.close({ graceMs }), (error: unknown) => isNetcryptError(error, 'ERR_INVALID_ARGUMENT'));
    }
    await server.close({ graceMs: 0 });
  });
});

describe('a client that leaves with an authenticated close', () => {
  const scenarios: [string, (channel: Channel) => Promise<void>][] = [
    ['a callback iterating the channel', async (channel) => {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    }],
    ['a callback still waiting in receive()', async (channel) => {
      await channel.send(await channel.receive());
      await channel.receive(); // the client leaves instead: ERR_CLOSED
      assert.fail('a second message arrived');
    }],
    ['a callback that sends after the client left', async (channel) => {
      await channel.send(await channel.receive());
      await once(channel, 'end');
      await channel.send('too late');
      await channel.close();
    }],
  ];
  for (const [name, onChannel] of scenarios) {
    it(`is not reported as an error: ${name}`, async () => {
      const { channelErrors, options } = reporting();
      const server = createServer(options, onChannel);
      const port = await listen(server);
      const handed = nextChannels(server, 1);
      const client = await dial(port);
      const [channel] = await handed;
      const serverSideReason = closeReason(channel!);
      await client.send('hello');
      assert.equal((await client.receive()).toString(), 'hello');
      await client.close();
      assert.equal(await serverSideReason, undefined);
      assert.equal(channel!.closedCleanly, true);
      assert.equal(client.closedCleanly, true);
      await server.close();
      assert.deepEqual(channelErrors, []);
    });
  }

  it('while a client that just drops is reported (ERR_TRUNCATED)', async () => {
    const { channelErrors, options } = reporting();
    let reported!: () => void;
    const report = new Promise<void>((resolve) => (reported = resolve));
    const server = createServer({ ...options, onChannelError: (error, channel) => (options.onChannelError!(error, channel), reported()) }, async (channel) => {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    });
    const port = await listen(server);
    const client = await dial(port);
    await client.send('hello');
    await client.receive();
    client.destroy();
    await report;
    assert.equal(channelErrors.length, 1);
    assert.ok(isNetcryptError(channelErrors[0], 'ERR_TRUNCATED'), String(channelErrors[0]));
    await server.close();
  });
});

describe('shutdown under load', () => {
  it('16 clients sending and a broadcaster: every message sent before the CLOSE arrives, in order, both ways', { timeout: 300_000 }, async () => {
    const CLIENTS = 16;
    const { channelErrors, options } = reporting();
    /** Per server-side channel: the sequence numbers received, in order. */
    const receivedByServer = new Map<Channel, number[]>();
    const server = createServer(options, async (channel) => {
      const got: number[] = [];
      receivedByServer.set(channel, got);
      for await (const message of channel) got.push(message.readUInt32BE(0));
      await channel.close();
    });
    const port = await listen(server);
    const handed = nextChannels(server, CLIENTS);
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => dial(port)));
    const handedOver = await handed;
    // Paired by port while the sockets are open: serverSides[i] is client i's channel on the server.
    const serverSides = clients.map((client) => handedOver.find((channel) => channel.socket.remotePort === client.socket.localPort)!);

    // Each client sends numbered 1 KiB messages until the server's CLOSE arrives, then closes.
    const sentByClient = clients.map(() => 0);
    const receivedByClient = clients.map(() => [] as number[]);
    const clientRuns = clients.map(async (client, index) => {
      let ended = false;
      client.once('end', () => (ended = true));
      client.on('message', (message: Buffer) => receivedByClient[index]!.push(message.readUInt32BE(0)));
      const message = Buffer.alloc(1024);
      while (!ended) {
        message.writeUInt32BE(sentByClient[index]!, 0);
        await client.send(message);
        sentByClient[index]!++;
      }
      await client.close();
    });

    // The server broadcasts numbered ticks to every channel; what it sent before close() is counted.
    const sentByServer = new Map<Channel, number>(serverSides.map((channel) => [channel, 0]));
    let closing: Promise<void> | undefined;
    const sends: Promise<void>[] = [];
    for (let round = 0; !closing; round++) {
      const tick = Buffer.alloc(256);
      tick.writeUInt32BE(round, 0);
      for (const channel of server.channels) {
        sends.push(channel.send(tick));
        sentByServer.set(channel, round + 1);
      }
      await Promise.all(sends.splice(0));
      // Every client has sent something and the server has broadcast a while: shut down mid-stream.
      if (round >= 300 && sentByClient.every((count) => count > 50)) closing = server.close({ graceMs: 600_000 });
    }
    await closing;
    await Promise.all(clientRuns);

    for (const [index, client] of clients.entries()) {
      const serverSide = serverSides[index]!;
      const expectedAtServer = Array.from({ length: sentByClient[index]! }, (_, i) => i);
      assert.deepEqual(receivedByServer.get(serverSide), expectedAtServer, `client ${index}: the server missed or reordered a message`);
      const expectedAtClient = Array.from({ length: sentByServer.get(serverSide)! }, (_, i) => i);
      assert.deepEqual(receivedByClient[index], expectedAtClient, `client ${index} missed or reordered a broadcast`);
      assert.equal(client.closedCleanly, true);
      assert.equal(serverSide.closedCleanly, true);
    }
    assert.deepEqual(channelErrors, []);
  });
});

/** A room-client.ts process, and what it has printed so far. */
class RoomMember {
  readonly child: ChildProcess;
  count = 0;
  ready = false;
  result?: { count: number; inOrder: boolean; sha256: string; closedCleanly: boolean };
  readonly exited: Promise<unknown[]>;
  #buffered = '';
  #waiting: { until: () => boolean; resolve: () => void }[] = [];

  constructor(port: number, reportEvery: number) {
    const script = fileURLToPath(new URL('./helpers/room-client.ts', import.meta.url));
    this.child = spawn(process.execPath, ['--import', 'tsx', script, String(port), String(reportEvery)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = once(this.child, 'exit');
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (this.#buffered + chunk).split('\n');
      this.#buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready') this.ready = true;
        else if (line.startsWith('got ')) this.count = Number(line.slice(4));
        else if (line.startsWith('done ')) this.result = JSON.parse(line.slice(5));
      }
      this.#waiting = this.#waiting.filter((waiter) => !(waiter.until() && (waiter.resolve(), true)));
    });
  }

  /** Resolves once `until` holds, checked after each line the member prints. */
  when(until: () => boolean): Promise<void> {
    if (until()) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push({ until, resolve }));
  }
}

describe('a broadcast room', () => {
  it("one SIGSTOPped member is dropped (sendQueuePolicy 'drop') and its queue stays bounded; the others receive every message", { timeout: 600_000 }, async () => {
    const MEMBERS = 4;
    const LIMIT = 1024 * 1024;
    const MESSAGE = 16 * 1024;
    /** Messages sent before waiting for the members that read: 128 KiB, far below the limit. */
    const BATCH = 8;
    const { channelErrors, options } = reporting();
    const room = createServer({ ...options, sendQueueLimitBytes: LIMIT, sendQueuePolicy: 'drop' }, async (member) => {
      for await (const _ of member); // members only listen in this room
      await member.close();
    });
    // The whole broadcast: one send per member, none awaited, so no member can hold up the others.
    const broadcast = (message: Buffer) => {
      for (const member of room.channels) member.send(message).catch(() => {});
    };
    const port = await listen(room);
    const handed = nextChannels(room, MEMBERS);
    const members = Array.from({ length: MEMBERS }, () => new RoomMember(port, BATCH));
    try {
      await Promise.all(members.map((member) => member.when(() => member.ready)));
      const channels = await handed;
      const [stopped, ...reading] = members;
      stopped!.child.kill('SIGSTOP');

      const hash = createHash('sha256');
      let sent = 0;
      let dropped: Channel | undefined;
      let maxBuffered = 0;
      let afterDrop = 0;
      // Until the stopped member is dropped, and 400 messages (6.4 MiB) more reached the others; 256 MiB at most.
      while ((!dropped || afterDrop < 400) && sent * MESSAGE < 256 * 1024 * 1024) {
        for (let i = 0; i < BATCH; i++, sent++) {
          const message = Buffer.alloc(MESSAGE, sent);
          message.writeUInt32BE(sent, 0);
          hash.update(message);
          broadcast(message);
        }
        for (const channel of channels) maxBuffered = Math.max(maxBuffered, channel.bufferedAmount);
        dropped ??= channels.find((channel) => !room.channels.has(channel));
        if (dropped) afterDrop += BATCH;
        // The pace of the members that read; the stopped one cannot slow it.
        await Promise.all(reading.map((member) => member.when(() => member.count >= sent)));
      }
      assert.ok(dropped, `the stopped member was never dropped after ${sent} messages`);
      assert.equal(room.channels.size, MEMBERS - 1);
      assert.ok(maxBuffered <= LIMIT, `a member's send queue held ${maxBuffered} bytes; the limit is ${LIMIT}`);
      assert.equal(channelErrors.length, 1);
      assert.ok(isNetcryptError(channelErrors[0], 'ERR_SEND_QUEUE_FULL'), String(channelErrors[0]));

      await room.close({ graceMs: 60_000 });
      const digest = hash.digest('hex');
      for (const member of reading) {
        await member.exited;
        assert.deepEqual(member.result, { count: sent, inOrder: true, sha256: digest, closedCleanly: true });
      }
    } finally {
      for (const member of members) member.child.kill('SIGKILL');
      await room.close({ graceMs: 0 });
    }
  });
});

describe('a server process', () => {
  it('exits by itself once close() resolved: no socket, timer or handle is left', { timeout: 120_000 }, async () => {
    const script = fileURLToPath(new URL('./helpers/closing-server.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, '300'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    const port = await new Promise<number>((resolve) => {
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        const line = /^(\d+)\n/.exec(stdout);
        if (line) resolve(Number(line[1]));
      });
    });
    const exited = once(child, 'exit');
    // A connection still in its handshake, one that never answers the CLOSE, and one that asks for the shutdown.
    const raw = await connectRaw(port);
    raw.resume();
    raw.on('error', () => {});
    const rawGone = once(raw, 'close');
    const trustAny = { port, identity: clientId, trust: 'any' } as const;
    const silent = await connect(trustAny);
    const silentGone = closeReason(silent);
    const asking = await connect(trustAny);
    await asking.send('shutdown');
    const departure = wellBehaved(asking);
    const [code, signal] = await exited;
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.match(stdout, /^\d+\nclosed 0\n$/);
    await departure;
    assert.equal(asking.closedCleanly, true);
    assert.ok(isNetcryptError(await silentGone));
    await rawGone;
  });
});
