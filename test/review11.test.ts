/**
 * Adversarial review of issue #11's record path: records opened in the
 * pieces they arrived in, on every backend and suite; tampering and
 * truncation anywhere; KEY_UPDATE misuse; aliasing between the application's
 * buffers and what was sent or received.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadBackend } from '../src/backend/index.ts';
import type { Backend, BackendName } from '../src/backend/types.ts';
import { duplexPair } from '../src/channel/duplex-pair.ts';
import { ErrorCode, NetcryptError } from '../src/errors.ts';
import { secureSocket } from '../src/protocol/connect.ts';
import { FrameDecoder } from '../src/wire/frames.ts';
import { BATCH_ITEM_MAX, MessageAssembler } from '../src/wire/messages.ts';
import { RecordWriter } from '../src/wire/record-writer.ts';
import { MAX_RECORD_PLAINTEXT, RecordOpener, RecordSealer, SUITES, type SuiteName, parseRecordType, systemRandom } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';
import { memoryChannels } from './helpers/memory-pair.ts';

const BACKENDS: BackendName[] = ['native', 'wasm', 'pure'];
const SUITE_NAMES: SuiteName[] = ['a256gcm', 'a256cbc-hs512'];
/** memoryChannels() options: both ends on the native backend. */
const NATIVE = { client: { backend: 'native' }, server: { backend: 'native' } } as const;
const backends = new Map<BackendName, Backend>();
async function backend(name: BackendName): Promise<Backend> {
  if (!backends.has(name)) backends.set(name, await loadBackend(name));
  return backends.get(name)!;
}

/** A low update threshold, so KEY_UPDATEs fall between the records of one stream. */
const POLICY = { records: 3, bytes: 100_000 };

function keys(suite: SuiteName): Uint8Array {
  return randomBytes(SUITES[suite].keyMaterialBytes);
}

/** A record stream from the writer: small messages batched, large ones fragmented, KEY_UPDATEs interleaved, CLOSE last. */
function sealStream(sealerBackend: Backend, suite: SuiteName, material: Uint8Array, messages: Uint8Array[]): Buffer {
  const writer = new RecordWriter(new RecordSealer(sealerBackend, SUITES[suite], material, systemRandom(), POLICY));
  messages.forEach((message, i) => {
    if (message.length <= BATCH_ITEM_MAX) {
      if (!writer.addToBatch(0, message)) {
        writer.sealBatch();
        writer.addToBatch(0, message);
      }
      if (i % 3 === 2) writer.sealBatch();
    } else {
      let offset = 0;
      while (offset < message.length) offset = writer.sealFragments(0, message, offset, 0);
    }
    if (i % 5 === 4) writer.sealKeyUpdate();
  });
  writer.sealClose();
  return Buffer.concat(writer.take());
}

interface Received {
  messages: Buffer[];
  closed: boolean;
  error?: unknown;
}

/** The channel's receive path without the socket: decoder pieces → opener → assembler. */
function receive(openerBackend: Backend, suite: SuiteName, material: Uint8Array, chunks: Buffer[]): Received {
  const decoder = new FrameDecoder(SUITES[suite].maxFrameBytes);
  const opener = new RecordOpener(openerBackend, SUITES[suite], material, true);
  const assembler = new MessageAssembler(1 << 24);
  const out: Received = { messages: [], closed: false };
  try {
    for (const chunk of chunks) {
      decoder.push(chunk);
      for (let frame = decoder.nextPieces(); frame; frame = decoder.nextPieces()) {
        const { type, plaintext } = opener.openPieces(frame);
        const record = parseRecordType(type);
        if (record?.kind === 'close') out.closed = true;
        else if (record?.kind === 'fragment' || record?.kind === 'batch') out.messages.push(...assembler.push(record, plaintext.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length))));
      }
    }
  } catch (error) {
    out.error = error;
  }
  return out;
}

/** Splits `bytes` at the given (sorted, deduplicated) offsets; the chunks are copies, as a socket's are. */
function chunk(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) out.push(Buffer.from(bytes.subarray(start, point)));
    start = point;
  }
  return out;
}

const messagesArb = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom(BATCH_ITEM_MAX, BATCH_ITEM_MAX + 1, MAX_RECORD_PLAINTEXT, MAX_RECORD_PLAINTEXT + 17).map((n) => randomBytes(n)) },
  ),
  { minLength: 1, maxLength: 12 },
);
const cutsArb = fc.array(fc.nat(), { maxLength: 40 });

describe('review11: records in pieces, every backend and suite', () => {
  for (const suite of SUITE_NAMES) {
    for (const sealerName of BACKENDS) {
      for (const openerName of BACKENDS) {
        it(`${suite}: any chunking of a ${sealerName}-sealed stream opens on ${openerName} to the same messages, which later chunks do not change`, async () => {
          const sealer = await backend(sealerName);
          const opener = await backend(openerName);
          await fc.assert(
            fc.asyncProperty(messagesArb, cutsArb, async (messages, cuts) => {
              const material = keys(suite);
              const stream = sealStream(sealer, suite, material, messages);
              const chunks = chunk(stream, cuts);
              const got = receive(opener, suite, material, chunks);
              assert.equal(got.error, undefined);
              assert.ok(got.closed);
              // Compared only after every chunk went through: a delivered message must not be a view the decoder reuses.
              assert.equal(got.messages.length, messages.length);
              got.messages.forEach((message, i) => assert.ok(message.equals(messages[i]!), `message ${i}`));
              // Overwriting the chunks (a transport reusing its read buffers) must not change delivered messages either.
              for (const c of chunks) c.fill(0xa5);
              got.messages.forEach((message, i) => assert.ok(message.equals(messages[i]!), `message ${i} after the chunks were reused`));
            }),
            { numRuns: sealerName === 'pure' || openerName === 'pure' ? 8 : 20 },
          );
        });
      }
    }

    it(`${suite}: a flipped bit or a truncation anywhere fails the same way on every backend, and nothing of that record is delivered`, async () => {
      const all = await Promise.all(BACKENDS.map(backend));
      await fc.assert(
        fc.asyncProperty(messagesArb, cutsArb, fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean(), async (messages, cuts, where, bit, truncate) => {
          const material = keys(suite);
          const stream = sealStream(all[0]!, suite, material, messages);
          const at = where % stream.length;
          const tampered = Buffer.from(truncate ? stream.subarray(0, at) : stream);
          if (!truncate) tampered[at]! ^= 1 << bit;
          // Messages wholly before the damaged frame may be delivered; none after it.
          const clean = receive(all[0]!, suite, material, [Buffer.from(stream.subarray(0, at))]);
          const results = all.map((b) => receive(b, suite, material, chunk(tampered, cuts)));
          for (const got of results) {
            if (truncate) {
              assert.equal(got.error, undefined, 'a cut stream is only incomplete; the channel reports ERR_TRUNCATED at end');
              assert.equal(got.closed, false);
            } else {
              assert.equal(got.closed, false, 'no CLOSE gets through a damaged stream');
              // In a length header the flip shows as a frame too large, a record that fails to authenticate, or one still waiting for bytes.
              if (got.error !== undefined) {
                assert.ok(got.error instanceof NetcryptError, String(got.error));
                assert.ok([ErrorCode.AUTH, ErrorCode.FRAME_TOO_LARGE].includes(got.error.code as never), got.error.code);
              }
            }
            assert.ok(got.messages.length <= clean.messages.length);
            got.messages.forEach((message, i) => assert.ok(message.equals(messages[i]!)));
          }
          // Uniform across backends: the same error code and the same messages delivered.
          const codes = results.map((r) => (r.error as NetcryptError | undefined)?.code);
          assert.deepEqual(codes, codes.map(() => codes[0]));
          assert.deepEqual(results.map((r) => r.messages.length), results.map(() => results[0]!.messages.length));
        }),
        { numRuns: 60 },
      );
    });

    it(`${suite}: a failed open changes no state: the genuine record still opens after a forged one`, async () => {
      for (const b of await Promise.all(BACKENDS.map(backend))) {
        const material = keys(suite);
        const sealer = new RecordSealer(b, SUITES[suite], material, systemRandom(), POLICY);
        const opener = new RecordOpener(b, SUITES[suite], material, true);
        const frame = Buffer.concat(sealer.seal(0x20, Buffer.from('\0\0\0\x05hello'))).subarray(4);
        const forged = Buffer.from(frame);
        forged[forged.length - 1]! ^= 1;
        assert.throws(() => opener.openPieces([forged.subarray(0, 7), forged.subarray(7)]), (e: NetcryptError) => e.code === ErrorCode.AUTH);
        const { plaintext } = opener.openPieces([frame.subarray(0, 3), frame.subarray(3)]);
        assert.equal(Buffer.concat(plaintext).toString('latin1'), '\0\0\0\x05hello', b.name);
      }
    });

    it(`${suite}: after a KEY_UPDATE, records under the old key are refused, and a record cannot be moved across it`, async () => {
      const b = await backend('native');
      const material = keys(suite);
      const sealer = new RecordSealer(b, SUITES[suite], material, systemRandom(), POLICY);
      // A twin of the sealer that never ratchets: what an attacker holding the old key (or a replay) would produce.
      const stale = new RecordSealer(b, SUITES[suite], material, systemRandom(), { records: 1e9, bytes: 1e12 });
      const payload = Buffer.from('\0\0\0\x01x');
      const first = Buffer.concat(sealer.seal(0x20, payload)).subarray(4);
      stale.seal(0x20, payload);
      const update = Buffer.concat(sealer.updateKey()).subarray(4);
      stale.seal(0x04, new Uint8Array(0));
      const oldKey = Buffer.concat(stale.seal(0x20, payload)).subarray(4);
      const newKey = Buffer.concat(sealer.seal(0x20, payload)).subarray(4);

      const opener = new RecordOpener(b, SUITES[suite], material, true);
      opener.openPieces([first]);
      opener.openPieces([update]);
      assert.throws(() => opener.openPieces([oldKey]), (e: NetcryptError) => e.code === ErrorCode.AUTH);
      assert.deepEqual(Buffer.concat(opener.openPieces([newKey]).plaintext), payload);

      // Skipping the KEY_UPDATE (dropping it in flight) leaves the receiver on the old key: the next record fails.
      const skipper = new RecordOpener(b, SUITES[suite], material, true);
      skipper.openPieces([first]);
      assert.throws(() => skipper.openPieces([newKey]), (e: NetcryptError) => e.code === ErrorCode.AUTH);
    });

    it(`${suite}: a frame longer than the suite allows is refused from its header, before its body is buffered`, () => {
      const decoder = new FrameDecoder(SUITES[suite].maxFrameBytes);
      const header = Buffer.alloc(4);
      header.writeUInt32BE(SUITES[suite].maxFrameBytes + 1);
      decoder.push(header);
      assert.throws(() => decoder.nextPieces(), (e: NetcryptError) => e.code === ErrorCode.FRAME_TOO_LARGE);
      assert.equal(decoder.bufferedBytes, 0);
    });
  }
});

describe('review11: the channel and the application’s buffers', () => {
  const pair = (suite: SuiteName) => memoryChannels({ client: { backend: 'native', suites: [suite] }, server: { backend: 'native', suites: [suite] } });

  for (const suite of SUITE_NAMES) {
    it(`${suite}: the sender may reuse its buffer once send() resolved; what the peer received does not change when more arrives`, async () => {
      const { client, server } = await pair(suite);
      const sizes = [1, 100, BATCH_ITEM_MAX, BATCH_ITEM_MAX + 1, MAX_RECORD_PLAINTEXT * 3 + 5, 200_000];
      const buffer = Buffer.alloc(Math.max(...sizes));
      const expected: Buffer[] = [];
      for (const [i, size] of sizes.entries()) {
        const view = buffer.subarray(0, size);
        view.fill(i + 1);
        expected.push(Buffer.from(view));
        await client.send(view);
        // Reused at once, as a pooled writer would.
        buffer.fill(0xee);
      }
      // Several small sends in one tick share a batch record: each is copied at send(), not when the batch is sealed.
      const small = Buffer.from('first');
      const sends = [client.send(small)];
      small.write('SECND');
      sends.push(client.send(small));
      expected.push(Buffer.from('first'), Buffer.from('SECND'));
      await Promise.all(sends);
      const received: Buffer[] = [];
      for (let i = 0; i < expected.length; i++) received.push(await server.receive());
      // More traffic after the messages were taken, through a key update.
      await client.updateKeys();
      await client.send(randomBytes(70_000));
      await server.receive();
      received.forEach((message, i) => assert.ok(message.equals(expected[i]!), `message ${i}`));
      assert.equal(client.bufferedAmount, 0);
      await Promise.all([client.close(), server.close()]);
    });

    it(`${suite}: a small message does not pin the whole 64 KiB record it was batched in`, async () => {
      const { client, server } = await pair(suite);
      await client.send('x');
      const message = await server.receive();
      assert.equal(message.toString(), 'x');
      // Report, not fail, if it pins more: a retained small message holding its record is a memory cost, not corruption.
      assert.ok(message.buffer.byteLength <= MAX_RECORD_PLAINTEXT + 64);
      await Promise.all([client.close(), server.close()]);
    });
  }
});

describe('review11: sends aborted mid-message', () => {
  it('a send whose every record is already written does not report an abort: the peer gets the message', async () => {
    const { client, server } = await memoryChannels(NATIVE);
    await client.flush();
    // 16 records of 64 KiB: all sealed in one go (the send buffer is 1 MiB), the last one crossing the mark, so the send waits for 'drain' with nothing left to seal.
    const message = randomBytes(16 * MAX_RECORD_PLAINTEXT);
    const controller = new AbortController();
    const sent = client.send(message, { signal: controller.signal });
    controller.abort();
    const outcome = await sent.then(
      () => 'resolved',
      (error: Error) => error.name,
    );
    const received = await server.receive();
    assert.ok(received.equals(message), 'the message reached the peer whole');
    // What send() reports must be true for the peer: the message went, so the send did not fail.
    assert.equal(outcome, 'resolved');
    await client.send('after');
    assert.equal((await server.receive()).toString(), 'after');
    await Promise.all([client.close(), server.close()]);
  });

  it('a send aborted before its turn sends nothing and leaves the channel usable; bufferedAmount returns to 0', async () => {
    const { client, server } = await memoryChannels(NATIVE);
    // Large enough to wait for 'drain', so the next send queues behind it.
    const first = randomBytes(20 * MAX_RECORD_PLAINTEXT);
    const controller = new AbortController();
    const a = client.send(first);
    const b = client.send(randomBytes(5 * MAX_RECORD_PLAINTEXT), { signal: controller.signal });
    controller.abort();
    await a;
    await assert.rejects(b, { code: ErrorCode.ABORTED });
    await client.send('next');
    assert.ok((await server.receive()).equals(first));
    assert.equal((await server.receive()).toString(), 'next');
    await client.flush();
    assert.equal(client.bufferedAmount, 0);
    await Promise.all([client.close(), server.close()]);
  });
});

describe('review11: sends aborted mid-message, and records removed in flight', () => {
  it('a send aborted with records still to seal ends the channel; the peer gets no part of that message', async () => {
    const { client, server } = await memoryChannels(NATIVE);
    await client.send('before');
    const controller = new AbortController();
    // Far more than the 1 MiB the sender seals ahead: the send is waiting for 'drain' halfway.
    const sent = client.send(randomBytes(64 * MAX_RECORD_PLAINTEXT), { signal: controller.signal });
    controller.abort();
    await assert.rejects(sent, { code: ErrorCode.ABORTED });
    assert.equal((await server.receive()).toString(), 'before');
    await assert.rejects(server.receive(), (e: NetcryptError) => e instanceof NetcryptError);
    client.destroy();
    server.destroy();
  });

  /** client ⇄ relay ⇄ server, where the relay may drop client→server record frames whose type matches. */
  async function relayed(suite: SuiteName) {
    const [clientId, serverId] = await testIdentities();
    const [clientEnd, relayLeft] = duplexPair();
    const [relayRight, serverEnd] = duplexPair();
    const state = { filtering: false, dropType: -1, dropped: 0 };
    const decoder = new FrameDecoder(1 << 20);
    relayLeft.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (let frame = decoder.next(); frame; frame = decoder.next()) {
        if (state.filtering && frame[0] === state.dropType && state.dropped === 0) {
          state.dropped++;
          continue;
        }
        const header = Buffer.alloc(4);
        header.writeUInt32BE(frame.length);
        relayRight.write(Buffer.concat([header, frame]));
      }
    });
    relayRight.on('data', (chunk: Buffer) => relayLeft.write(chunk));
    // The relay's writes fail once an end is gone; that is the channels' business, not the relay's.
    for (const end of [relayLeft, relayRight]) end.on('error', () => {});
    const [client, server] = await Promise.all([
      secureSocket(clientEnd, 'client', { identity: clientId!, pin: serverId!.fingerprint, backend: 'native', suites: [suite] }),
      secureSocket(serverEnd, 'server', { identity: serverId!, backend: 'native', suites: [suite] }),
    ]);
    return { client, server, state };
  }

  for (const suite of SUITE_NAMES) {
    it(`${suite}: a KEY_UPDATE dropped in flight fails the next record with ERR_AUTH, and nothing after it is delivered`, async () => {
      const { client, server, state } = await relayed(suite);
      await client.send('under the first key');
      assert.equal((await server.receive()).toString(), 'under the first key');
      state.filtering = true;
      state.dropType = 0x04;
      await client.updateKeys();
      assert.equal(state.dropped, 1);
      await client.send('under the next key').catch(() => {});
      await assert.rejects(server.receive(), { code: ErrorCode.AUTH });
      client.destroy();
      server.destroy();
    });
  }
});

describe('review11: close() and sends accepted while it waits', () => {
  it('a large send accepted after close() but before its CLOSE goes out whole, before the CLOSE', async () => {
    const { client, server } = await memoryChannels(NATIVE);
    const first = randomBytes(4 << 20);
    const second = randomBytes(4 << 20);
    const a = client.send(first);
    const closing = client.close();
    // close() is waiting for `a`; this send is pending too when the CLOSE is sealed.
    const b = client.send(second);
    const received: Buffer[] = [];
    const reading = (async () => {
      for (;;) received.push(await server.receive());
    })().catch((error: NetcryptError) => error.code);
    await a;
    await b;
    const serverClosed = server.close();
    await closing;
    await serverClosed;
    assert.equal(await reading, ErrorCode.CLOSED);
    assert.equal(received.length, 2);
    assert.ok(received[0]!.equals(first) && received[1]!.equals(second));
    assert.ok(client.closedCleanly && server.closedCleanly);
  });
});
