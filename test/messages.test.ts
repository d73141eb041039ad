/** Messages over records: fragments, batches, and their reassembly. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { NetcryptError } from '../src/errors.ts';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { BATCH_ITEM_MAX, MessageAssembler, MessageBatch } from '../src/wire/messages.ts';
import { MAX_RECORD_PLAINTEXT } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve } from './helpers/net.ts';

const [serverId, clientId] = await testIdentities();

describe('message assembly (sans-I/O)', () => {
  it('batched and fragmented messages come back whole and in order', () => {
    const messageArb = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 200_000 }).map((n) => new Uint8Array(n).fill(n % 251)));
    fc.assert(
      fc.property(fc.array(messageArb, { maxLength: 40 }), (messages) => {
        const assembler = new MessageAssembler(1 << 20);
        const out: Buffer[] = [];
        let batch: MessageBatch | undefined;
        const flush = () => {
          if (batch) out.push(...assembler.push({ kind: 'batch', lane: 0 }, Buffer.from(batch.plaintext)));
          batch = undefined;
        };
        for (const message of messages) {
          if (message.length <= BATCH_ITEM_MAX) {
            if (!batch?.add(message)) {
              flush();
              batch = new MessageBatch(0);
              assert.ok(batch.add(message));
            }
            continue;
          }
          flush();
          for (let offset = 0; offset < message.length; offset += MAX_RECORD_PLAINTEXT) {
            const end = Math.min(offset + MAX_RECORD_PLAINTEXT, message.length);
            out.push(...assembler.push({ kind: 'fragment', lane: 0, final: end === message.length }, Buffer.from(message.subarray(offset, end))));
          }
        }
        flush();
        assert.deepEqual(out, messages.map((m) => Buffer.from(m)));
      }),
      { numRuns: 200 },
    );
  });

  it('hostile batch plaintexts give messages or a NetcryptError, never more than they hold', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (plaintext) => {
        try {
          const messages = new MessageAssembler(100).push({ kind: 'batch', lane: 2 }, Buffer.from(plaintext));
          assert.ok(messages.reduce((sum, m) => sum + m.length + 4, 0) === plaintext.length);
        } catch (error) {
          assert.ok(error instanceof NetcryptError && ['ERR_PROTOCOL', 'ERR_FRAME_TOO_LARGE'].includes(error.code), String(error));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('a batch inside a fragmented message, and fragments beyond the limit, are refused', () => {
    const assembler = new MessageAssembler(1 << 20);
    assembler.push({ kind: 'fragment', lane: 1, final: false }, Buffer.alloc(MAX_RECORD_PLAINTEXT));
    assert.throws(() => assembler.push({ kind: 'batch', lane: 1 }, Buffer.from([0, 0, 0, 1, 7])), { code: 'ERR_PROTOCOL' });
    assert.throws(() => new MessageAssembler(100).push({ kind: 'fragment', lane: 0, final: false }, Buffer.alloc(MAX_RECORD_PLAINTEXT)), {
      code: 'ERR_FRAME_TOO_LARGE',
    });
  });

  it('each message has one encoding: any other fragment or entry size is ERR_PROTOCOL', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_RECORD_PLAINTEXT }), fc.boolean(), (length, final) => {
        const assembler = new MessageAssembler(1 << 20);
        const allowed = final ? length > BATCH_ITEM_MAX : length === MAX_RECORD_PLAINTEXT;
        const push = () => assembler.push({ kind: 'fragment', lane: 0, final }, Buffer.alloc(length));
        if (allowed) push();
        else assert.throws(push, { code: 'ERR_PROTOCOL' });
        const entry = () => new MessageAssembler(1 << 20).push({ kind: 'batch', lane: 0 }, Buffer.concat([Buffer.from([0, 0, length >> 8, length & 0xff]), Buffer.alloc(length)]).subarray(0, length + 4));
        if (length <= BATCH_ITEM_MAX) assert.equal(entry()[0]!.length, length);
        else if (length < 65536) assert.throws(entry, { code: 'ERR_PROTOCOL' });
      }),
      { numRuns: 300 },
    );
  });
});

describe('batching over a real connection', () => {
  it('a burst of small sends mixed with large ones arrives complete and in order', async () => {
    const server = createServer({ identity: serverId }, async (channel) => {
      for await (const message of channel) await channel.send(message);
    });
    const port = await serve(server);
    const channel = await connect({ port, identity: clientId, pin: serverId!.fingerprint });
    const messages = Array.from({ length: 3000 }, (_, i) => (i % 500 === 499 ? Buffer.alloc(300_000, i % 256) : Buffer.from(`message ${i}`)));
    const sends = messages.map((m) => channel.send(m));
    for (const expected of messages) assert.deepEqual(await channel.receive(), expected);
    await Promise.all(sends);
    await channel.close();
  });
});
