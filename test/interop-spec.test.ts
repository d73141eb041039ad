/**
 * Issue 9 §6: a peer written from docs/PROTOCOL.md alone (test/helpers/independent-peer.ts,
 * which imports nothing from src/) interoperates with the library over real loopback TCP,
 * in both roles, and reproduces the spec's worked example.
 */

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { type Channel, connect, createServer, generateIdentity, isNetcryptError } from '../src/index.ts';
import {
  FEATURES, FEATURES_ALL, FrameReader, IndependentPeer, type LaneThreeMessage, MsgMap, PeerAlert, PeerError, REQUEST_LANE, alertFrameCode,
  batchPlaintext, decodeCanonical, encode, encodeAlertFrame, encodeHello, encodeLaneThree, fingerprintOf, frame, parseLaneThree, TYPE,
} from './helpers/independent-peer.ts';
import { connectRaw, listen, socketPair } from './helpers/net.ts';

/** What our peer offers: a peer from before negotiation, CBC with key updates, everything. */
const OFFERS = [
  { name: 'old peer (a256cbc-hs512 only)', features: FEATURES, suite: 'a256cbc-hs512', keyUpdates: false },
  { name: 'a256cbc-hs512 + key-update', features: ['a256cbc-hs512', 'x25519', 'rsa-oaep-sha256', 'lanes', 'key-update'], suite: 'a256cbc-hs512', keyUpdates: true },
  { name: 'a256gcm + key-update', features: FEATURES_ALL, suite: 'a256gcm', keyUpdates: true },
] as const;
const SIZES = [0, 1, 16_384, 16_385, 65_536, 1_048_576];
const pattern = (size: number, seed: number): Buffer => {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) out[i] = (i * 31 + seed) & 0xff;
  return out;
};

const peerKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const peerFingerprint = fingerprintOf(crypto.createPublicKey(peerKey).export({ format: 'der', type: 'spki' }));
const libraryIdentity = await generateIdentity({ modulusLength: 2048 });

/** A library server running `handler`, and a socket of ours connected to it. */
async function libraryServer(handler: (channel: Channel) => Promise<void>, options: { keepAliveMs?: number } = {}): Promise<{ socket: net.Socket; errors: unknown[] }> {
  const errors: unknown[] = [];
  const server = createServer({ identity: libraryIdentity, onChannelError: (error: unknown) => errors.push(error), ...options }, handler);
  const port = await listen(server);
  after(() => server.close());
  const socket = await connectRaw(port);
  after(() => socket.destroy());
  return { socket, errors };
}

/** Our server socket and a library client dialled to it (the client pins `pin`). */
async function libraryClient(pin = peerFingerprint, options: { keepAliveMs?: number } = {}): Promise<{ socket: net.Socket; channel: Promise<Channel> }> {
  const server = net.createServer();
  const port = await listen(server);
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const channel = connect({ host: '127.0.0.1', port, pin, identity: libraryIdentity, ...options });
  const socket = await accepted;
  server.close();
  after(() => socket.destroy());
  return { socket, channel };
}

async function expectMessage(peer: IndependentPeer): Promise<Buffer> {
  const event = await peer.next();
  assert.equal(event.kind, 'message');
  return event.data;
}

describe('independent peer as client, library as server', () => {
  for (const { name, features, suite, keyUpdates } of OFFERS) {
    test(`${name}: handshake with a pinned key; every size each way; CLOSE from our side first`, async () => {
      const { socket } = await libraryServer(async (channel) => {
        for await (const message of channel) await channel.send(message);
        await channel.close();
      });
      const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint, features });
      assert.equal(peer.peerFingerprint, libraryIdentity.fingerprint);
      assert.deepEqual(peer.negotiated, { suite, keyUpdates });
      for (const [index, size] of SIZES.entries()) {
        const sent = pattern(size, index);
        peer.send(sent);
        const echoed = await peer.next();
        assert.equal(echoed.kind, 'message');
        assert.ok(echoed.kind === 'message' && echoed.data.equals(sent), `echo of ${size} bytes`);
        assert.equal(echoed.kind === 'message' && echoed.recordType, size <= 16_384 ? 0x20 : 0x11, `the library's encoding of ${size} bytes`);
      }
      peer.close();
      assert.deepEqual(await peer.next(), { kind: 'close' });
      peer.end();
    });
  }

  for (const { name, features } of OFFERS.filter((offer) => offer.keyUpdates)) {
    test(`${name}: KEY_UPDATE each way, ours between two fragments of one message`, async () => {
      const { socket } = await libraryServer(async (channel) => {
        for await (const message of channel) {
          await channel.updateKeys();
          await channel.send(message);
        }
        await channel.close();
      });
      const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint, features });
      const big = pattern(3 * 65_536 + 5, 9);
      peer.sendRecord(TYPE.FRAGMENT, big.subarray(0, 65_536));
      peer.updateKeys();
      peer.sendRecord(TYPE.FRAGMENT, big.subarray(65_536, 2 * 65_536));
      peer.sendRecord(TYPE.FRAGMENT, big.subarray(2 * 65_536, 3 * 65_536));
      peer.updateKeys();
      peer.sendRecord(TYPE.FINAL, big.subarray(3 * 65_536));
      assert.ok((await expectMessage(peer)).equals(big), 'the library reassembled it across our key updates; we opened its reply after its update');
      for (let round = 0; round < 3; round += 1) {
        peer.send(Buffer.from(`round ${round}`));
        peer.updateKeys();
        assert.equal((await expectMessage(peer)).toString(), `round ${round}`);
      }
      peer.close();
      assert.deepEqual(await peer.next(), { kind: 'close' });
      peer.end();
    });
  }

  test('KEY_UPDATE when key updates were not negotiated: the library answers with an ERR_PROTOCOL alert', async () => {
    const { socket } = await libraryServer(async (channel) => {
      await channel.receive().catch(() => undefined);
    });
    const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint });
    assert.equal(peer.negotiated.keyUpdates, false);
    peer.sendRecord(TYPE.KEY_UPDATE, Buffer.alloc(0));
    assert.deepEqual(await peer.next(), { kind: 'alert', code: 'ERR_PROTOCOL' });
  });

  test('one BATCH of several messages is several messages; the library batches a burst', async () => {
    const { socket } = await libraryServer(async (channel) => {
      const received: Buffer[] = [];
      for await (const message of channel) received.push(message);
      // One tick of sends: the spec says they share one BATCH.
      await Promise.all(received.map((m) => channel.send(m)));
      await channel.close();
    });
    const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint });
    const messages = ['a', '', 'three', 'x'.repeat(16_384), 'last'].map((s) => Buffer.from(s));
    peer.sendBatch(messages);
    peer.close();
    const back: Buffer[] = [];
    let entriesSeen = 0;
    for (;;) {
      const event = await peer.next();
      if (event.kind === 'close') break;
      assert.equal(event.kind, 'message');
      if (event.kind === 'message') {
        back.push(event.data);
        entriesSeen = Math.max(entriesSeen, event.entries);
      }
    }
    assert.deepEqual(back, messages);
    assert.ok(entriesSeen > 1, 'the burst arrived in a BATCH of more than one entry');
    peer.end();
  });

  test('the library closes first; our CLOSE answers it', async () => {
    let libraryClosed!: Promise<void>;
    const { socket } = await libraryServer(async (channel) => {
      await channel.send('bye');
      libraryClosed = channel.close();
      await libraryClosed;
    });
    const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint });
    assert.equal((await expectMessage(peer)).toString(), 'bye');
    assert.deepEqual(await peer.next(), { kind: 'close' });
    peer.send(Buffer.from('a last reply after the peer closed'));
    peer.close();
    await libraryClosed;
    peer.end();
  });

  test('our ALERT record is reported by the library with our code, authenticated', async () => {
    let reported!: (error: unknown) => void;
    const failure = new Promise<unknown>((resolve) => { reported = resolve; });
    const { socket } = await libraryServer(async (channel) => {
      try {
        await channel.receive();
        reported(new Error('a message instead of the alert'));
      } catch (error) {
        reported(error);
      }
    });
    const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint });
    await peer.alert('ERR_INDEPENDENT_PEER');
    const error = await failure;
    assert.ok(isNetcryptError(error, 'ERR_PEER_ALERT'), String(error));
    assert.equal(error.peerCode, 'ERR_INDEPENDENT_PEER');
    assert.equal(error.origin, 'peer');
    assert.equal(error.authenticated, true);
  });

  test('a record type the spec does not allow: the library answers with an ALERT record we decode', async () => {
    const { socket } = await libraryServer(async (channel) => {
      await channel.receive().catch(() => undefined);
    });
    const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint });
    peer.sendRecord(0x24, batchPlaintext([Buffer.from('lane 4')]));
    assert.deepEqual(await peer.next(), { kind: 'alert', code: 'ERR_PROTOCOL' });
  });

  test('a tampered record: the library answers with an ERR_AUTH alert', async () => {
    const { socket } = await libraryServer(async (channel) => {
      await channel.receive().catch(() => undefined);
    });
    const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint });
    peer.sender.sequence += 1n; // a skipped sequence number: the record opens with the wrong AAD
    peer.send(Buffer.from('skipped'));
    assert.deepEqual(await peer.next(), { kind: 'alert', code: 'ERR_AUTH' });
  });
});

describe('what the spec refuses, the library refuses with the code the spec names (read by our peer)', () => {
  const big = (n: number) => pattern(n, 3);
  const cases: [string, string, (peer: IndependentPeer) => void][] = [
    ['an empty FINAL', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.FINAL, Buffer.alloc(0))],
    ['a FINAL completing a message of 16 384 bytes', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.FINAL, big(16_384))],
    ['a FRAGMENT shorter than 65 536 bytes', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.FRAGMENT, big(65_535))],
    ['a BATCH entry of 16 385 bytes', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.BATCH, batchPlaintext([big(16_385)]))],
    ['an empty BATCH', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.BATCH, Buffer.alloc(0))],
    ['a BATCH its entries do not fill', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.BATCH, Buffer.concat([batchPlaintext([big(3)]), Buffer.from([0, 0])]))],
    ['a BATCH inside a fragmented message', 'ERR_PROTOCOL', (peer) => {
      peer.sendRecord(TYPE.FRAGMENT, big(65_536));
      peer.sendBatch([Buffer.from('x')]);
    }],
    ['a record of 65 537 plaintext bytes', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.FINAL, big(65_537))],
    ['a CLOSE with content', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.CLOSE, Buffer.from([0]))],
    ['a PING of 7 bytes', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.PING, Buffer.alloc(7))],
    ['a PING of 9 bytes', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.PING, Buffer.alloc(9))],
    ['a PONG that answers no PING', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.PONG, Buffer.alloc(8))],
    ['a second FINISHED', 'ERR_PROTOCOL', (peer) => peer.sendRecord(TYPE.FINISHED, peer.transcript)],
    ['a record after our CLOSE', 'ERR_PROTOCOL', (peer) => {
      peer.close();
      peer.sendBatch([Buffer.from('late')]);
    }],
    ['a frame one byte over the record limit', 'ERR_FRAME_TOO_LARGE', (peer) => peer.socket.write(frame(Buffer.alloc(65_602)))],
  ];
  for (const [name, code, misbehave] of cases) {
    test(`${name}: ${code}`, async () => {
      const { socket } = await libraryServer(async (channel) => {
        for await (const message of channel) void message;
      });
      const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint });
      misbehave(peer);
      let event = await peer.next();
      while (event.kind !== 'alert') event = await peer.next(); // a CLOSE of ours may be answered first
      assert.equal(event.code, code);
    });
  }
});

describe('negotiation and the key messages, against the library', () => {
  test('a secret that unwraps to 31 bytes: the library sends an ERR_AUTH alert frame', async () => {
    const { socket } = await libraryServer(async () => undefined);
    const random = (purpose: string, bytes: number) => crypto.randomBytes(purpose === 'secret' ? 31 : bytes);
    await assert.rejects(
      IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint, random }),
      (error: unknown) => error instanceof PeerAlert && error.peerCode === 'ERR_AUTH' && !error.authenticated,
    );
  });

  test('a256gcm listed without key-update: the library picks a256cbc-hs512, without key updates', async () => {
    const { socket } = await libraryServer(async (channel) => {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    });
    const features = ['a256cbc-hs512', 'x25519', 'rsa-oaep-sha256', 'lanes', 'a256gcm'];
    const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint, features });
    assert.deepEqual(peer.negotiated, { suite: 'a256cbc-hs512', keyUpdates: false });
    peer.send(Buffer.from('cbc'));
    assert.equal((await expectMessage(peer)).toString(), 'cbc');
    peer.close();
    assert.deepEqual(await peer.next(), { kind: 'close' });
    peer.end();
  });

  test('no suite in common: the library sends an ERR_VERSION alert frame', async () => {
    const { socket } = await libraryServer(async () => undefined);
    const reader = new FrameReader(socket);
    const hello = encodeHello({ role: 'client', features: ['x25519', 'rsa-oaep-sha256', 'lanes', 'a256gcm'], rsa: crypto.createPublicKey(peerKey).export({ format: 'der', type: 'spki' }), x25519: crypto.randomBytes(32), nonce: crypto.randomBytes(32) });
    socket.write(frame(hello));
    let code: string | undefined;
    while (code === undefined) code = alertFrameCode(await reader.next(4096));
    assert.equal(code, 'ERR_VERSION');
  });
});

/** The next event that is not a PING the peer has already answered. */
async function nextBesidesPings(peer: IndependentPeer): Promise<Exclude<Awaited<ReturnType<IndependentPeer['next']>>, { kind: 'ping' }>> {
  for (;;) {
    const event = await peer.next();
    if (event.kind !== 'ping') return event;
  }
}

describe('PING and PONG (§3, Ping), between the library and our peer', () => {
  for (const { name, features } of OFFERS) {
    test(`${name}: the library answers our PINGs, one between two fragments of a message`, async () => {
      const { socket } = await libraryServer(async (channel) => {
        for await (const message of channel) await channel.send(message);
        await channel.close();
      });
      const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint, features });
      const first = peer.ping();
      assert.deepEqual(await peer.next(), { kind: 'pong', data: first });
      const big = pattern(65_536 + 100, 4);
      peer.sendRecord(TYPE.FRAGMENT, big.subarray(0, 65_536));
      const second = peer.ping();
      peer.sendRecord(TYPE.FINAL, big.subarray(65_536));
      assert.deepEqual(await peer.next(), { kind: 'pong', data: second }, 'answered before the message it interrupted was complete');
      assert.ok((await expectMessage(peer)).equals(big), 'the PING did not disturb the message around it');
      peer.close();
      assert.deepEqual(await peer.next(), { kind: 'close' });
      peer.end();
    });

  }

  // The interval is generous: a live peer is dropped only if this busy process stalls for two intervals.
  for (const { name, features } of [OFFERS[0], OFFERS[2]]) {
    test(`${name}: with keepAliveMs the library pings our quiet peer, which answers, and keeps the channel over many intervals`, async () => {
      let closedCleanly: boolean | undefined;
      const { socket, errors } = await libraryServer(async (channel) => {
        for await (const message of channel) await channel.send(message);
        await channel.close();
        closedCleanly = channel.closedCleanly;
      }, { keepAliveMs: 150 });
      const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint, features });
      const pings: Buffer[] = [];
      while (pings.length < 4) {
        const event = await peer.next();
        assert.equal(event.kind, 'ping', `nothing but PINGs from the library while we are quiet: ${JSON.stringify(event)}`);
        if (event.kind === 'ping') pings.push(event.data);
      }
      assert.ok(pings.every((ping) => ping.length === 8), 'each PING has 8 bytes');
      assert.equal(new Set(pings.map((ping) => ping.toString('hex'))).size, pings.length, 'each PING has its own bytes');
      peer.send(Buffer.from('still here'));
      const echo = await nextBesidesPings(peer);
      assert.ok(echo.kind === 'message' && echo.data.toString() === 'still here', 'the channel is alive after four intervals of our silence');
      peer.close();
      assert.deepEqual(await nextBesidesPings(peer), { kind: 'close' });
      peer.end();
      while (closedCleanly === undefined && errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual(errors, []);
      assert.equal(closedCleanly, true);
    });
  }

  test('the library as client, keepAliveMs on: our PONG that does not echo its PING is ERR_PROTOCOL', async () => {
    const { socket, channel: dialled } = await libraryClient(peerFingerprint, { keepAliveMs: 20 });
    const [peer, channel] = await Promise.all([
      IndependentPeer.handshake(socket, { role: 'server', privateKey: peerKey, pin: libraryIdentity.fingerprint }),
      dialled,
    ]);
    const failed = new Promise<unknown>((resolve) => channel.once('close', resolve));
    peer.answerPings = false;
    const ping = await peer.next();
    assert.equal(ping.kind, 'ping');
    const wrong = Buffer.from((ping as { data: Buffer }).data);
    wrong[7]! ^= 1;
    peer.sendRecord(TYPE.PONG, wrong);
    assert.deepEqual(await peer.next(), { kind: 'alert', code: 'ERR_PROTOCOL' });
    assert.ok(isNetcryptError(await failed, 'ERR_PROTOCOL'));
  });

  test('the library as client, keepAliveMs on: our PONGs keep the channel over many intervals, and it closes cleanly', async () => {
    const { socket, channel: dialled } = await libraryClient(peerFingerprint, { keepAliveMs: 150 });
    const [peer, channel] = await Promise.all([
      IndependentPeer.handshake(socket, { role: 'server', privateKey: peerKey, pin: libraryIdentity.fingerprint }),
      dialled,
    ]);
    let pings = 0;
    while (pings < 4) if ((await peer.next()).kind === 'ping') pings += 1;
    const closed = channel.close();
    assert.deepEqual(await nextBesidesPings(peer), { kind: 'close' });
    peer.close();
    await closed;
    assert.equal(channel.closedCleanly, true);
    peer.end();
  });
});

describe('the independent peer\'s canonical MessagePack', () => {
  const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    any: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.uint8Array().map((b) => Buffer.from(b)), fc.array(tie('any'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('any'), { maxKeys: 4 })),
  })).any;

  test('what it encodes, it decodes to the same bytes', () => {
    fc.assert(fc.property(value, (v) => {
      const bytes = encode(v as Parameters<typeof encode>[0]);
      try {
        assert.ok(encode(decodeCanonical(bytes)).equals(bytes));
      } catch (error) {
        // Nesting beyond the few shapes the protocol has is refused, by name.
        assert.ok(error instanceof PeerError && /too deep/.test(error.message), String(error));
      }
    }));
  });

  test('any bytes: a value, or a named ERR_PROTOCOL, never another exception', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeCanonical(Buffer.from(bytes));
      } catch (error) {
        assert.ok(error instanceof PeerError && error.code === 'ERR_PROTOCOL', String(error));
      }
    }));
  });
});

describe('independent peer as server, library as client', () => {
  for (const { name, features, suite, keyUpdates } of OFFERS) {
    test(`${name}: handshake with the library pinning our key; every size each way; CLOSE from the library first`, async () => {
      const { socket, channel: dialled } = await libraryClient();
      const [peer, channel] = await Promise.all([
        IndependentPeer.handshake(socket, { role: 'server', privateKey: peerKey, pin: libraryIdentity.fingerprint, features }),
        dialled,
      ]);
      assert.equal(channel.peerFingerprint, peerFingerprint);
      assert.deepEqual(peer.negotiated, { suite, keyUpdates });
      for (const [index, size] of SIZES.entries()) {
        const sent = pattern(size, index + 7);
        const [, received] = await Promise.all([channel.send(sent), expectMessage(peer)]);
        assert.ok(received.equals(sent), `library → peer, ${size} bytes`);
        if (keyUpdates) peer.updateKeys();
        peer.send(received);
        assert.ok((await channel.receive()).equals(sent), `peer → library, ${size} bytes`);
      }
      const closed = channel.close();
      assert.deepEqual(await peer.next(), { kind: 'close' });
      peer.close();
      await closed;
      peer.end();
    });
  }

  test('our CLOSE ends the library\'s iteration cleanly; its CLOSE answers', async () => {
    const { socket, channel: dialled } = await libraryClient();
    const [peer, channel] = await Promise.all([
      IndependentPeer.handshake(socket, { role: 'server', privateKey: peerKey, pin: libraryIdentity.fingerprint }),
      dialled,
    ]);
    peer.sendBatch([Buffer.from('one'), Buffer.from('two')]);
    peer.close();
    const received: string[] = [];
    for await (const message of channel) received.push(message.toString());
    assert.deepEqual(received, ['one', 'two']);
    const closed = channel.close();
    assert.deepEqual(await peer.next(), { kind: 'close' });
    await closed;
    peer.end();
  });

  test('the library refuses our key: its alert frame names ERR_PEER_KEY_MISMATCH', async () => {
    const otherFingerprint = fingerprintOf(crypto.createPublicKey(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey).export({ format: 'der', type: 'spki' }));
    const { socket, channel } = await libraryClient(otherFingerprint);
    const refused = assert.rejects(channel, (error: unknown) => isNetcryptError(error, 'ERR_PEER_KEY_MISMATCH'));
    await assert.rejects(
      IndependentPeer.handshake(socket, { role: 'server', privateKey: peerKey, pin: libraryIdentity.fingerprint }),
      (error: unknown) => error instanceof PeerAlert && error.peerCode === 'ERR_PEER_KEY_MISMATCH' && !error.authenticated,
    );
    await refused;
  });

  test('our alert frame in place of the hello is reported, unauthenticated, with our code', async () => {
    const { socket, channel } = await libraryClient();
    socket.end(frame(encodeAlertFrame('ERR_SERVER_BUSY')));
    await assert.rejects(channel, (error: unknown) =>
      isNetcryptError(error, 'ERR_PEER_ALERT') && error.peerCode === 'ERR_SERVER_BUSY' && error.authenticated === false && error.origin === 'peer');
  });

  test('a hello that is valid MessagePack but not canonical: the library sends an ERR_PROTOCOL alert frame', async () => {
    const { socket, channel } = await libraryClient();
    const failed = assert.rejects(channel, (error: unknown) => isNetcryptError(error, 'ERR_PROTOCOL'));
    const hello = encodeHello({ role: 'server', features: ['a256cbc-hs512', 'x25519', 'rsa-oaep-sha256', 'lanes'], rsa: crypto.createPublicKey(peerKey).export({ format: 'der', type: 'spki' }), x25519: crypto.randomBytes(32), nonce: crypto.randomBytes(32) });
    // v as uint8 01 (cc 01) instead of the fixint 01: the same value, not canonical.
    const at = hello.indexOf(Buffer.from('a17601', 'hex'));
    const loose = Buffer.concat([hello.subarray(0, at + 2), Buffer.from([0xcc]), hello.subarray(at + 2)]);
    socket.write(frame(loose));
    const reader = new FrameReader(socket);
    let code: string | undefined;
    for (;;) {
      const payload = await reader.next(4096);
      code = alertFrameCode(payload);
      if (code !== undefined) break;
    }
    assert.equal(code, 'ERR_PROTOCOL');
    await failed;
  });
});

describe('the worked examples (PROTOCOL.md §5), reproduced from the spec alone', () => {
  const spec = readFileSync(new URL('../docs/PROTOCOL.md', import.meta.url), 'utf8');
  const wycheproofKey = (bits: number) => {
    const file = JSON.parse(readFileSync(new URL(`./vectors/wycheproof/rsa_oaep_${bits}_sha256_mgf1sha256_test.json`, import.meta.url), 'utf8'));
    return crypto.createPrivateKey(file.testGroups[0].privateKeyPem);
  };
  const clientKey = wycheproofKey(2048);
  const serverKey = wycheproofKey(3072);
  const spki = (key: crypto.KeyObject) => crypto.createPublicKey(key).export({ format: 'der', type: 'spki' });
  const sessions = [
    { suite: 'a256gcm', features: FEATURES_ALL },
    { suite: 'a256cbc-hs512', features: ['a256cbc-hs512', 'x25519', 'rsa-oaep-sha256', 'lanes', 'key-update'] },
  ] as const;

  for (const { suite, features } of sessions) {
    const block = (n: number): Buffer => {
      const match = new RegExp(`\\*\\*${suite} ${n}\\. [^\\n]*\\n\\n((?:    [0-9a-f]+\\n)+)`).exec(spec);
      assert.ok(match, `${suite} example ${n}`);
      return Buffer.from(match[1]!.replace(/\s+/g, ''), 'hex');
    };

    test(`${suite}: the hellos are canonical and carry the Wycheproof keys with the fingerprints shown`, () => {
      for (const [bytes, role, key] of [[block(1), 'client', clientKey], [block(2), 'server', serverKey]] as const) {
        const hello = decodeCanonical(bytes);
        assert.ok(hello instanceof MsgMap);
        assert.deepEqual(hello.entries.map(([k]) => k), ['t', 'p', 'v', 'role', 'features', 'rsa', 'x25519', 'nonce']);
        assert.deepEqual(hello.get('features'), [...features]);
        assert.ok(spki(key).equals(hello.get('rsa') as Buffer));
        assert.ok(spec.includes(`${role} \`${fingerprintOf(spki(key))}\``), `${role} fingerprint`);
      }
    });

    test(`${suite}: our peer, given the example's keys and randomness, sends every frame byte for byte`, async () => {
      // "SHA-256 over a counter": a side's n-th random value (from 0) is the first bytes of SHA-256("<suite>/<role>/<n>").
      const counter = (role: string) => {
        let n = 0;
        return (_: string, bytes: number) => crypto.createHash('sha256').update(`${suite}/${role}/${n++}`).digest().subarray(0, bytes);
      };
      const [clientSocket, serverSocket] = await socketPair();
      const sent = { client: [] as Buffer[], server: [] as Buffer[] };
      for (const [socket, side] of [[clientSocket, 'client'], [serverSocket, 'server']] as const) {
        const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
        socket.write = ((chunk: Buffer) => { sent[side].push(Buffer.from(chunk)); return write(chunk); }) as typeof socket.write;
      }
      const [client, server] = await Promise.all([
        IndependentPeer.handshake(clientSocket, { role: 'client', privateKey: clientKey, pin: fingerprintOf(spki(serverKey)), features: [...features], random: counter('client') }),
        IndependentPeer.handshake(serverSocket, { role: 'server', privateKey: serverKey, pin: fingerprintOf(spki(clientKey)), features: [...features], random: counter('server') }),
      ]);
      assert.deepEqual(client.negotiated, { suite, keyUpdates: true });
      assert.ok(spec.includes(`Transcript hash H = \`${client.transcript.toString('hex')}\`; suite \`${suite}\``));
      client.send(Buffer.from('Thanks for having me'));
      client.updateKeys();
      client.send(Buffer.from('after the update'));
      client.close();
      assert.equal((await expectMessage(server)).toString(), 'Thanks for having me');
      assert.equal((await expectMessage(server)).toString(), 'after the update');
      assert.deepEqual(await server.next(), { kind: 'close' });
      const hex = (chunks: Buffer[]) => chunks.map((chunk) => chunk.subarray(4).toString('hex'));
      const [c, s] = [hex(sent.client), hex(sent.server)];
      const ours = [c[0], s[0], c[1], s[1], c[2], s[2], c[3], c[4], c[5], c[6]];
      for (const [index, frameHex] of ours.entries()) assert.equal(frameHex, block(index + 1).toString('hex'), `${suite} example ${index + 1}`);
      assert.ok(spec.includes(`Its plaintext is \`${batchPlaintext([Buffer.from('Thanks for having me')]).toString('hex')}\``));
      clientSocket.destroy();
      serverSocket.destroy();
    });
  }

  test('an alert frame is the byte string the spec spells out', () => {
    assert.equal(encodeAlertFrame('ERR_AUTH').toString('hex'), `82a174a5616c657274a4636f6465a8${Buffer.from('ERR_AUTH').toString('hex')}`);
    assert.throws(() => alertFrameCode(Buffer.concat([encodeAlertFrame('ERR_AUTH'), Buffer.from([0])])), PeerError);
  });
});

describe('requests on lane 3 (§3.1), independent peer against the library', () => {
  /** The next lane-3 message our peer reads, parsed by §3.1's rules. */
  async function nextLaneThree(peer: IndependentPeer): Promise<LaneThreeMessage> {
    const event = await peer.next();
    assert.ok(event.kind === 'message' && event.lane === REQUEST_LANE, `expected a lane-3 message, got ${JSON.stringify(event)}`);
    return parseLaneThree(event.data);
  }
  const sendLaneThree = (peer: IndependentPeer, message: LaneThreeMessage) => peer.send(encodeLaneThree(message), REQUEST_LANE);

  test("the library answers our requests: REPLY, ERROR with the handler's code, nothing for a cancelled one", async () => {
    let cancelled!: Promise<unknown>;
    const { socket } = await libraryServer(async (channel) => {
      channel.onRequest((data, { signal }) => {
        if (data.toString() === 'fail') throw Object.assign(new Error('it failed\nbadly'), { code: 'E_FAIL' });
        if (data.toString() === 'slow') {
          cancelled = new Promise((resolve) => signal.addEventListener('abort', resolve));
          return cancelled.then(() => 'too late');
        }
        return `re: ${data}`;
      });
      await channel.receive().catch(() => undefined);
      await channel.close();
    });
    const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint, features: FEATURES_ALL });
    sendLaneThree(peer, { kind: 'request', id: 1, body: Buffer.from('ping') });
    assert.deepEqual(await nextLaneThree(peer), { kind: 'reply', id: 1, body: Buffer.from('re: ping') });
    sendLaneThree(peer, { kind: 'request', id: 2, body: Buffer.from('fail') });
    assert.deepEqual(await nextLaneThree(peer), { kind: 'error', id: 2, code: 'E_FAIL', message: 'it failed?badly' });
    sendLaneThree(peer, { kind: 'request', id: 3, body: Buffer.from('slow') });
    sendLaneThree(peer, { kind: 'cancel', id: 3 });
    sendLaneThree(peer, { kind: 'request', id: 4, body: Buffer.alloc(20_000, 7) });
    // Request 3's answer is never sent: the next lane-3 message answers 4.
    const fourth = await nextLaneThree(peer);
    assert.ok(fourth.kind === 'reply' && fourth.id === 4 && fourth.body.length === 20_004);
    sendLaneThree(peer, { kind: 'request', id: 9, body: Buffer.from('') }); // ids increase; a gap is allowed
    assert.deepEqual(await nextLaneThree(peer), { kind: 'reply', id: 9, body: Buffer.from('re: ') });
    peer.close();
    assert.deepEqual(await peer.next(), { kind: 'close' });
    peer.end();
  });

  test('the library asks us: REQUEST ids 1, 2, … and a CANCEL when its caller times out', async () => {
    const { socket, channel } = await libraryClient();
    const peer = await IndependentPeer.handshake(socket, { role: 'server', privateKey: peerKey, pin: libraryIdentity.fingerprint, features: FEATURES_ALL });
    const library = await channel;
    const first = library.request('question');
    assert.deepEqual(await nextLaneThree(peer), { kind: 'request', id: 1, body: Buffer.from('question') });
    sendLaneThree(peer, { kind: 'reply', id: 1, body: Buffer.from('answer') });
    assert.equal((await first).toString(), 'answer');
    const second = library.request('hard one');
    assert.deepEqual(await nextLaneThree(peer), { kind: 'request', id: 2, body: Buffer.from('hard one') });
    sendLaneThree(peer, { kind: 'error', id: 2, code: 'ENOENT', message: 'no such thing' });
    await assert.rejects(second, (error) => isNetcryptError(error, 'ERR_REMOTE') && error.remoteCode === 'ENOENT' && error.message === 'no such thing');
    const third = library.request('never answered', { timeoutMs: 100 });
    third.catch(() => {}); // asserted once the CANCEL has been read
    assert.deepEqual(await nextLaneThree(peer), { kind: 'request', id: 3, body: Buffer.from('never answered') });
    assert.deepEqual(await nextLaneThree(peer), { kind: 'cancel', id: 3 });
    await assert.rejects(third, (error) => isNetcryptError(error, 'ERR_TIMEOUT'));
    // An answer that crossed the CANCEL is dropped: the channel goes on.
    sendLaneThree(peer, { kind: 'reply', id: 3, body: Buffer.from('late') });
    const fourth = library.request('again');
    assert.deepEqual(await nextLaneThree(peer), { kind: 'request', id: 4, body: Buffer.from('again') });
    sendLaneThree(peer, { kind: 'reply', id: 4, body: Buffer.alloc(0) });
    assert.equal((await fourth).length, 0);
    library.destroy();
  });

  test('a request id that does not increase, or an answer to a request never sent, is answered with an ERR_PROTOCOL alert', async () => {
    for (const wrong of [
      [{ kind: 'request', id: 2, body: Buffer.from('two') }, { kind: 'request', id: 2, body: Buffer.from('two again') }],
      [{ kind: 'request', id: 7, body: Buffer.from('seven') }, { kind: 'request', id: 6, body: Buffer.from('six') }],
      [{ kind: 'reply', id: 1, body: Buffer.from('unasked') }],
      [{ kind: 'cancel', id: 1 }],
    ] as LaneThreeMessage[][]) {
      const { socket } = await libraryServer(async (channel) => {
        channel.onRequest((data) => data);
        await channel.receive().catch(() => undefined);
      });
      const peer = await IndependentPeer.handshake(socket, { role: 'client', privateKey: peerKey, pin: libraryIdentity.fingerprint });
      for (const message of wrong) sendLaneThree(peer, message);
      // The library answers what was valid, then gives up on what was not.
      let event = await peer.next();
      while (event.kind === 'message') event = await peer.next();
      assert.deepEqual(event, { kind: 'alert', code: 'ERR_PROTOCOL' }, JSON.stringify(wrong));
    }
  });
});
