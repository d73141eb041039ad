/**
 * Adversarial review of session 5's record path (issue #11), end to end
 * through real channels: every pair of backends and both suites over a relay
 * that re-cuts the byte stream (down to a 1-byte drip), with key updates
 * every few records; delivered messages held and hashed again after
 * thousands of later records; a tampered record anywhere fails as ERR_AUTH
 * and delivers nothing of itself; key updates in the middle of a large
 * message on real loopback sockets; bufferedAmount back to 0 afterwards.
 */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import type { BackendName } from '../src/backend/types.ts';
import { duplexPair } from '../src/channel/duplex-pair.ts';
import type { NetcryptError } from '../src/errors.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { type ChannelOptions, secureSocket } from '../src/protocol/connect.ts';
import { BATCH_ITEM_MAX } from '../src/wire/messages.ts';
import { MAX_RECORD_PLAINTEXT, RecordType, type SuiteName } from '../src/wire/records.ts';
import { BACKEND_NAMES } from './helpers/backends.ts';
import { testIdentities } from './helpers/identities.ts';
import { loopbackPair } from './helpers/loopback-pair.ts';

const SUITE_NAMES: SuiteName[] = ['a256gcm', 'a256cbc-hs512'];
const [serverId, clientId] = await testIdentities();

/** A small deterministic PRNG (mulberry32), so a failing cut pattern can be rerun. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How a relay cuts what it forwards: the length of the next piece. */
type Cutter = () => number;
const drip: Cutter = () => 1;
/** Mostly tiny pieces (so boundaries fall inside lengths, types, IVs and tags), sometimes large ones. */
function ragged(seed: number): Cutter {
  const random = prng(seed);
  return () => {
    const r = random();
    if (r < 0.5) return 1 + Math.floor(random() * 20);
    if (r < 0.8) return 1 + Math.floor(random() * 700);
    return 1 + Math.floor(random() * 90_000);
  };
}

interface Tamper {
  /** Which record frame (counted from the first one that starts after arm()) to alter, and at which payload offset (negative: from its end). */
  frame: number;
  offset: number;
}

/**
 * Forwards bytes between two duplex ends, re-cut by `cut` regardless of
 * how they were written, each piece a fresh copy. In the client→server direction it can alter one byte of one
 * frame, found by following the 4-byte length prefixes.
 */
class Relay {
  #armed = false;
  #tamper?: Tamper;
  #framesSeen = 0;
  /** Frame parser state of the client→server direction. */
  #header = Buffer.alloc(4);
  #headerFill = 0;
  #bodyLeft = 0;
  #bodyLength = 0;
  #frameIndex = -1;
  tampered = false;
  /** The first payload byte of every client→server frame: for records, the type. */
  readonly types: number[] = [];

  constructor(toServer: Duplex, toClient: Duplex, cut: Cutter) {
    const forward = (from: Duplex, to: Duplex, inspect: boolean) => {
      // What arrives in one turn of the event loop is joined first, so a piece may span the writes it came in
      // (a handshake frame and the first record, the end of one record and the next one's length).
      let held: Buffer[] = [];
      const flush = () => {
        const bytes = Buffer.concat(held);
        held = [];
        let at = 0;
        while (at < bytes.length) {
          const piece = Buffer.from(bytes.subarray(at, at + cut()));
          if (inspect) this.#inspect(piece);
          at += piece.length;
          to.write(piece);
        }
      };
      from.on('data', (chunk: Buffer) => {
        if (held.push(chunk) === 1) setImmediate(flush);
      });
      from.on('end', () => setImmediate(() => to.end()));
      // After what is still held has gone on.
      from.on('error', () => setImmediate(() => to.destroy()));
      from.on('close', () => setImmediate(() => to.destroy()));
    };
    forward(toClient, toServer, true);
    forward(toServer, toClient, false);
  }

  /** From now on, count frames and alter the chosen one. */
  arm(tamper?: Tamper): void {
    this.#armed = true;
    this.#tamper = tamper;
  }

  #inspect(piece: Buffer): void {
    for (let i = 0; i < piece.length; i++) {
      if (this.#bodyLeft === 0) {
        this.#header[this.#headerFill++] = piece[i]!;
        if (this.#headerFill === 4) {
          this.#headerFill = 0;
          this.#bodyLength = this.#bodyLeft = this.#header.readUInt32BE(0);
          this.#frameIndex = this.#armed ? this.#framesSeen++ : -1;
        }
        continue;
      }
      const position = this.#bodyLength - this.#bodyLeft;
      if (position === 0) this.types.push(piece[i]!);
      const tamper = this.#tamper;
      if (tamper && this.#frameIndex === tamper.frame) {
        const target = tamper.offset < 0 ? this.#bodyLength + tamper.offset : tamper.offset;
        if (position === target) {
          piece[i] = piece[i]! ^ 0x01;
          this.tampered = true;
        }
      }
      this.#bodyLeft--;
    }
  }
}

interface Pair {
  client: Channel;
  server: Channel;
  relay: Relay;
}

async function relayedChannels(cut: Cutter, client: ChannelOptions, server: ChannelOptions): Promise<Pair> {
  const [clientEnd, relayClientSide] = duplexPair();
  const [relayServerSide, serverEnd] = duplexPair();
  const relay = new Relay(relayServerSide, relayClientSide, cut);
  const [c, s] = await Promise.all([
    secureSocket(clientEnd, 'client', { identity: clientId, pin: serverId!.fingerprint, ...client }),
    secureSocket(serverEnd, 'server', { identity: serverId, ...server }),
  ]);
  return { client: c, server: s, relay };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Every encoding's edges: empty, batched, the batch limit, one past it, whole and ragged fragment counts. */
const SIZES = [0, 1, 7, 100, BATCH_ITEM_MAX - 4, BATCH_ITEM_MAX, BATCH_ITEM_MAX + 1, MAX_RECORD_PLAINTEXT - 1, MAX_RECORD_PLAINTEXT, MAX_RECORD_PLAINTEXT + 1, 3 * MAX_RECORD_PLAINTEXT + 17];

/** `count` messages from `from` to `to`, sent without waiting in between; resolves with what arrived. */
async function exchange(from: Channel, to: Channel, messages: Buffer[]): Promise<Buffer[]> {
  const sent = Promise.all(messages.map((message) => from.send(message)));
  const received: Buffer[] = [];
  for (let i = 0; i < messages.length; i++) received.push(await to.receive());
  await sent;
  return received;
}

function assertSame(received: Buffer[], expected: Buffer[], what: string): void {
  assert.equal(received.length, expected.length, `${what}: count`);
  received.forEach((message, i) => assert.equal(sha256(message), sha256(expected[i]!), `${what}: message ${i} (${expected[i]!.length} bytes)`));
}

/** The backend that opens what `name` seals in the matrix below: each backend seals for another and opens another's. */
function partner(name: BackendName): BackendName {
  return BACKEND_NAMES[(BACKEND_NAMES.indexOf(name) + 1) % BACKEND_NAMES.length]!;
}

describe('review-s5: re-cut streams, key updates every 3 records, both directions, every backend and suite', () => {
  for (const suite of SUITE_NAMES) {
    for (const clientBackend of BACKEND_NAMES) {
      const serverBackend = partner(clientBackend);
      it(`${suite}: ${clientBackend} ⇄ ${serverBackend}, ragged and 1-byte cuts: every message intact, held ones unchanged by later records, bufferedAmount 0`, async () => {
        for (const [name, cut] of [
          ['ragged', ragged(SUITE_NAMES.indexOf(suite) * 10 + BACKEND_NAMES.indexOf(clientBackend))],
          ['drip', drip],
        ] as const) {
          const options = (backend: BackendName): ChannelOptions => ({ backend, suites: [suite], keyUpdateRecords: 3 });
          const { client, server, relay } = await relayedChannels(cut, options(clientBackend), options(serverBackend));
          assert.equal(client.suite, suite);
          // The drip relay forwards every byte as its own write: keep its share small.
          const sizes = name === 'drip' ? SIZES.filter((size) => size <= MAX_RECORD_PLAINTEXT + 1) : SIZES;
          const up = sizes.map((size) => randomBytes(size));
          const down = [...sizes].reverse().map((size) => randomBytes(size));
          const [gotUp, gotDown] = await Promise.all([exchange(client, server, up), exchange(server, client, down)]);
          assertSame(gotUp, up, `${name} client→server`);
          // The low threshold put a KEY_UPDATE between the fragments of one message: the case under test happened.
          const types = relay.types.join(',');
          assert.match(types, new RegExp(`(^|,)${RecordType.FRAGMENT},(${RecordType.FRAGMENT},)*${RecordType.KEY_UPDATE},`), `${name}: no KEY_UPDATE inside a message`);
          assertSame(gotDown, down, `${name} server→client`);
          const held = [...gotUp, ...gotDown].map(sha256);
          // Later records through further key updates, each send its own record: none may touch what was delivered.
          const later = name === 'drip' ? 50 : 400;
          for (let i = 0; i < later; i++) {
            const message = randomBytes(1 + (i % 97) * 37);
            const [got] = await Promise.all([server.receive(), client.send(message)]);
            assert.ok(got.equals(message), `later message ${i}`);
          }
          await client.updateKeys();
          await server.updateKeys();
          const last = randomBytes(70_000);
          assertSame(await exchange(client, server, [last]), [last], `${name} after the updates`);
          assert.deepEqual([...gotUp, ...gotDown].map(sha256), held, `${name}: held messages unchanged`);
          assert.equal(client.bufferedAmount, 0);
          assert.equal(server.bufferedAmount, 0);
          await Promise.all([client.close(), server.close()]);
          assert.ok(client.closedCleanly && server.closedCleanly);
        }
      });
    }
  }
});

describe('review-s5: held messages across 10 000 later records', () => {
  for (const suite of SUITE_NAMES) {
    for (const backend of BACKEND_NAMES) {
      it(`${suite}, ${backend} receiver: 60 held messages keep their SHA-256 while 10 000 more records arrive`, async () => {
        const cut = ragged(77 + BACKEND_NAMES.indexOf(backend));
        const { client, server } = await relayedChannels(cut, { backend: 'native', suites: [suite], keyUpdateRecords: 500 }, { backend, suites: [suite] });
        const first = Array.from({ length: 60 }, (_, i) => randomBytes(SIZES[i % SIZES.length]!));
        const held = await exchange(client, server, first);
        const hashes = held.map(sha256);
        assert.deepEqual(hashes, first.map(sha256));
        for (let i = 0; i < 10_000; i++) {
          // Awaited one by one, so each is its own BATCH record; every 250th a fragmented one.
          const message = i % 250 === 0 ? randomBytes(BATCH_ITEM_MAX + 1 + i) : randomBytes(1 + (i % 300));
          const [got] = await Promise.all([server.receive(), client.send(message)]);
          if (i % 250 === 0) assert.ok(got.equals(message), `later message ${i}`);
        }
        assert.deepEqual(held.map(sha256), hashes);
        assert.equal(client.bufferedAmount, 0);
        await Promise.all([client.close(), server.close()]);
      });
    }
  }
});

describe('review-s5: a tampered record, wherever the byte is and however the stream is cut', () => {
  // Payload offsets: the type byte, the first sealed byte (for CBC the IV), the middle, the tag's first and last byte.
  const offsets = [0, 1, 2000, -16, -1];
  for (const suite of SUITE_NAMES) {
    for (const backend of BACKEND_NAMES) {
      it(`${suite}, ${backend} receiver: ERR_AUTH every time, nothing of the record or after it delivered`, async () => {
        for (const offset of offsets) {
          // The drip relay forwards a byte per write: there only the type byte and the tag's edges.
          const cuts: [string, Cutter][] = [['ragged', ragged(offset + 1000)]];
          if ([0, -16, -1].includes(offset)) cuts.push(['drip', drip]);
          for (const [cutName, cut] of cuts) {
            const { client, server, relay } = await relayedChannels(cut, { backend: 'native', suites: [suite] }, { backend, suites: [suite] });
            const before = [randomBytes(10), randomBytes(5000)];
            assertSame(await exchange(client, server, before), before, 'before');
            const delivered: Buffer[] = [];
            const failed = new Promise<NetcryptError | undefined>((resolve) => server.once('close', resolve));
            // The second record frame from now on is altered: the first (a 64 KiB fragment) must arrive, the rest must not.
            relay.arm({ frame: 1, offset });
            const big = randomBytes(2 * MAX_RECORD_PLAINTEXT + 100);
            client.send(big).catch(() => {});
            client.send('after').catch(() => {});
            const receiving = (async () => {
              try {
                for (;;) delivered.push(await server.receive());
              } catch (error) {
                return error as NetcryptError;
              }
            })();
            const error = await receiving;
            assert.ok(relay.tampered, `${cutName} offset ${offset}: the relay altered a byte`);
            assert.equal(error.code, 'ERR_AUTH', `${cutName} offset ${offset}: ${error.message}`);
            assert.equal((await failed)?.code, 'ERR_AUTH');
            assert.deepEqual(delivered, [], `${cutName} offset ${offset}: nothing of the broken message is delivered`);
            client.destroy();
          }
        }
      });
    }
  }
});

describe('review-s5: key updates in the middle of a large message, real loopback sockets', () => {
  for (const suite of SUITE_NAMES) {
    for (const backend of ['native', 'wasm'] as const) {
      it(`${suite}, ${backend}: updateKeys() while an 8 MiB send waits for 'drain' (and automatic ones every 5 records); the message arrives whole, bufferedAmount returns to 0`, async () => {
        const { client, server } = await loopbackPair({
          client: { backend, suites: [suite], keyUpdateRecords: 5 },
          server: { backend: backend === 'native' ? 'wasm' : 'native', suites: [suite], keyUpdateRecords: 5 },
        });
        const big = randomBytes(8 * 1024 * 1024);
        const small = [randomBytes(3), randomBytes(BATCH_ITEM_MAX), randomBytes(100)];
        const sending = client.send(big);
        // Queued behind the large message; key updates go out between its fragments.
        const afterwards = Promise.all(small.map((message) => client.send(message)));
        const updates: Promise<void>[] = [];
        for (let i = 0; i < 4; i++) {
          await new Promise((resolve) => setImmediate(resolve));
          updates.push(client.updateKeys());
        }
        const received = await server.receive();
        assert.equal(sha256(received), sha256(big));
        assertSame([await server.receive(), await server.receive(), await server.receive()], small, 'after the large message');
        await Promise.all([sending, afterwards, ...updates]);
        // The other direction still works after the peer's ratchets.
        const echo = randomBytes(200_000);
        const [back] = await Promise.all([client.receive(), server.send(echo)]);
        assert.ok(back.equals(echo));
        assert.equal(client.bufferedAmount, 0);
        assert.equal(server.bufferedAmount, 0);
        await Promise.all([client.close(), server.close()]);
      });
    }
  }
});
