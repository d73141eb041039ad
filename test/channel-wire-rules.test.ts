/**
 * docs/PROTOCOL.md §3's rules for records and messages, each enforced by the
 * receiver: a scripted peer over real loopback sockets breaks one rule at a
 * time, and the server reports the code the spec names.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NetcryptError } from '../src/errors.ts';
import { createServer } from '../src/protocol/server.ts';
import { FRAME_HEADER_BYTES } from '../src/wire/frames.ts';
import { BATCH_ITEM_MAX } from '../src/wire/messages.ts';
import { MAX_RECORD_PLAINTEXT, RecordType, batchRecordType, laneRecordType } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve } from './helpers/net.ts';
import { type SealRecord as Rec, batchPlaintext, scriptedClient } from './helpers/scripted-peer.ts';

const [serverId, clientId] = await testIdentities();

type Outcome = { messages: Buffer[]; end: 'clean' | string };

/** A server that reads lane 0 until the end and reports, per connection, what it got and how it ended. */
async function recordingServer(options: Parameters<typeof createServer>[0] = {}) {
  const outcomes: Outcome[] = [];
  const handshakeErrors: string[] = [];
  let notify: (() => void) | undefined;
  const server = createServer({ identity: serverId, onHandshakeError: (e) => (handshakeErrors.push(e.code), notify?.()), ...options }, async (channel) => {
    const messages: Buffer[] = [];
    let end: string;
    try {
      for await (const message of channel) messages.push(message);
      end = 'clean';
    } catch (error) {
      end = error instanceof NetcryptError ? error.code : String(error);
    }
    outcomes.push({ messages, end });
    notify?.();
  });
  const port = await serve(server);
  const next = async (): Promise<Outcome | string> => {
    while (outcomes.length === 0 && handshakeErrors.length === 0) await new Promise<void>((resolve) => (notify = resolve));
    return outcomes.shift() ?? handshakeErrors.shift()!;
  };
  return { port, next };
}

describe('messages have one encoding (§3)', () => {
  it('a lone small message leaves as a BATCH record, on the direct path and on the queued one', async () => {
    const server = createServer({ identity: serverId }, async (channel) => {
      await channel.send('direct');
      await channel.send('queued', { signal: AbortSignal.timeout(60_000) });
      await channel.send(Buffer.alloc(BATCH_ITEM_MAX + 1));
    });
    const peer = await scriptedClient(await serve(server), clientId!);
    while (peer.frames.length < 3) await new Promise((resolve) => peer.socket.once('data', resolve));
    const opened = peer.frames.slice(0, 3).map((frame) => peer.opener.open(frame));
    assert.deepEqual(
      opened.map((r) => r.type),
      [batchRecordType(0), batchRecordType(0), laneRecordType(0, true)],
    );
    assert.deepEqual(Buffer.from(opened[0]!.plaintext), batchPlaintext(Buffer.from('direct')));
    assert.deepEqual(Buffer.from(opened[1]!.plaintext), batchPlaintext(Buffer.from('queued')));
    peer.socket.destroy();
  });

  it('a batch of the largest entries, an empty entry and a 64 KiB + 1 message are accepted', async () => {
    const big = Buffer.alloc(MAX_RECORD_PLAINTEXT + 1, 7);
    const entry = Buffer.alloc(BATCH_ITEM_MAX, 1);
    const { port, next } = await recordingServer();
    const client = await scriptedClient(port, clientId!);
    client.socket.write(
      Buffer.concat([
        client.record(batchRecordType(0), batchPlaintext(entry, Buffer.alloc(0), entry)),
        client.record(laneRecordType(0, false), big.subarray(0, MAX_RECORD_PLAINTEXT)),
        client.record(laneRecordType(0, true), big.subarray(MAX_RECORD_PLAINTEXT)),
        client.record(RecordType.CLOSE, new Uint8Array(0)),
      ]),
    );
    const run = await next();
    assert.ok(typeof run !== 'string');
    assert.equal(run.end, 'clean');
    assert.deepEqual(
      run.messages.map((m) => m.length),
      [BATCH_ITEM_MAX, 0, BATCH_ITEM_MAX, MAX_RECORD_PLAINTEXT + 1],
    );
  });

  for (const [name, frames, code] of [
    ['a lone FINAL record of 16 KiB (small messages travel as BATCH)', (r: Rec) => [r(laneRecordType(0, true), Buffer.alloc(BATCH_ITEM_MAX))], 'ERR_PROTOCOL'],
    ['an empty FINAL record', (r: Rec) => [r(laneRecordType(0, true), Buffer.alloc(0))], 'ERR_PROTOCOL'],
    ['a fragment shorter than 64 KiB before the final one', (r: Rec) => [r(laneRecordType(0, false), Buffer.alloc(40_000)), r(laneRecordType(0, true), Buffer.alloc(40_000))], 'ERR_PROTOCOL'],
    ['an empty non-final fragment', (r: Rec) => [r(laneRecordType(0, false), Buffer.alloc(0))], 'ERR_PROTOCOL'],
    ['a batch entry over 16 KiB', (r: Rec) => [r(batchRecordType(0), batchPlaintext(Buffer.alloc(BATCH_ITEM_MAX + 1)))], 'ERR_PROTOCOL'],
    ['an empty BATCH record', (r: Rec) => [r(batchRecordType(0), Buffer.alloc(0))], 'ERR_PROTOCOL'],
    ['a BATCH whose entries do not fill it', (r: Rec) => [r(batchRecordType(0), Buffer.concat([batchPlaintext(Buffer.from('x')), Buffer.from([0, 0])]))], 'ERR_PROTOCOL'],
    ['a record of 65 537 plaintext bytes (the frame limit leaves room for it)', (r: Rec) => [r(laneRecordType(0, false), Buffer.alloc(MAX_RECORD_PLAINTEXT + 1))], 'ERR_PROTOCOL'],
    ['a record of 65 551 plaintext bytes', (r: Rec) => [r(laneRecordType(0, false), Buffer.alloc(MAX_RECORD_PLAINTEXT + 15))], 'ERR_PROTOCOL'],
    ['a CLOSE record with content (not a clean close)', (r: Rec) => [r(batchRecordType(0), batchPlaintext(Buffer.from('hi'))), r(RecordType.CLOSE, Buffer.from([0]))], 'ERR_PROTOCOL'],
    ['a CLOSE inside an unfinished message (not a clean close that drops it)', (r: Rec) => [r(laneRecordType(0, false), Buffer.alloc(MAX_RECORD_PLAINTEXT)), r(RecordType.CLOSE, Buffer.alloc(0))], 'ERR_PROTOCOL'],
    ['a record after CLOSE (ERR_PROTOCOL, not a clean end)', (r: Rec) => [r(RecordType.CLOSE, Buffer.alloc(0)), r(batchRecordType(0), batchPlaintext(Buffer.from('late')))], 'ERR_PROTOCOL'],
    ['a second FINISHED record', (r: Rec) => [r(RecordType.FINISHED, Buffer.alloc(32))], 'ERR_PROTOCOL'],
    ['a record of an unassigned type', (r: Rec) => [r(0x07, Buffer.alloc(0))], 'ERR_PROTOCOL'],
    ['a PING record of 7 bytes', (r: Rec) => [r(RecordType.PING, Buffer.alloc(7))], 'ERR_PROTOCOL'],
    ['a PONG record that answers no PING', (r: Rec) => [r(RecordType.PONG, Buffer.alloc(8))], 'ERR_PROTOCOL'],
    ['a KEY_UPDATE record with content', (r: Rec) => [r(RecordType.KEY_UPDATE, Buffer.from([1]))], 'ERR_PROTOCOL'],
    ['a record after a KEY_UPDATE still under the old key', (r: Rec) => [r(RecordType.KEY_UPDATE, Buffer.alloc(0)), r(batchRecordType(0), batchPlaintext(Buffer.from('x')))], 'ERR_AUTH'],
    ['a record on lane 4', (r: Rec) => [r(batchRecordType(4), batchPlaintext(Buffer.from('x')))], 'ERR_PROTOCOL'],
    ['a BATCH inside a fragmented message on its lane', (r: Rec) => [r(laneRecordType(0, false), Buffer.alloc(MAX_RECORD_PLAINTEXT)), r(batchRecordType(0), batchPlaintext(Buffer.from('x')))], 'ERR_PROTOCOL'],
    [
      // Lane 0 within maxMessageBytes (100 000), lane 3 within its own 9 + 1 MiB: together above the largest lane limit.
      'messages in progress on all lanes together above the largest lane limit',
      (r: Rec) => [
        r(laneRecordType(0, false), Buffer.alloc(MAX_RECORD_PLAINTEXT)),
        ...Array.from({ length: 16 }, () => r(laneRecordType(3, false), Buffer.alloc(MAX_RECORD_PLAINTEXT))),
      ],
      'ERR_FRAME_TOO_LARGE',
    ],
  ] as [string, (r: Rec) => Buffer[], string][]) {
    for (const suite of ['a256cbc-hs512', 'a256gcm'] as const) {
      // a256gcm's frame limit is exact: a larger plaintext is refused from its length prefix.
      const expected = suite === 'a256gcm' && name.startsWith('a record of 65 5') ? 'ERR_FRAME_TOO_LARGE' : code;
      it(`${suite}: refuses ${name}: ${expected}`, async () => {
        const { port, next } = await recordingServer({ maxMessageBytes: 100_000 });
        const client = await scriptedClient(port, clientId!, { suite });
        client.socket.write(Buffer.concat(frames(client.record)));
        const outcome = await next();
        assert.equal(typeof outcome === 'string' ? outcome : outcome.end, expected);
        client.socket.destroy();
      });
    }
  }

  it('refuses a KEY_UPDATE record from a peer that did not offer key updates: ERR_PROTOCOL', async () => {
    const { port, next } = await recordingServer();
    const client = await scriptedClient(port, clientId!, { keyUpdate: false });
    client.socket.write(client.record(RecordType.KEY_UPDATE, Buffer.alloc(0)));
    const outcome = await next();
    assert.equal(typeof outcome === 'string' ? outcome : outcome.end, 'ERR_PROTOCOL');
    client.socket.destroy();
  });
});

describe('the end of the handshake (§2)', () => {
  it('application records may follow the sender’s own FINISHED at once', async () => {
    const { port, next } = await recordingServer();
    const client = await scriptedClient(port, clientId!, {
      finished: (finished, record) => [finished, record(batchRecordType(0), batchPlaintext(Buffer.from('early'))), record(RecordType.CLOSE, new Uint8Array(0))],
    });
    const outcome = await next();
    assert.ok(typeof outcome !== 'string');
    assert.deepEqual(outcome, { messages: [Buffer.from('early')], end: 'clean' });
    client.socket.destroy();
  });

  it('a first record that is not FINISHED is ERR_PROTOCOL', async () => {
    const { port, next } = await recordingServer();
    const client = await scriptedClient(port, clientId!, {
      finished: (_finished, record) => [record(batchRecordType(0), batchPlaintext(Buffer.from('too early')), 0)],
    });
    assert.equal(await next(), 'ERR_PROTOCOL');
    client.socket.destroy();
  });

  it('a FINISHED frame above the handshake limit (4096 bytes) is ERR_FRAME_TOO_LARGE', async () => {
    const { port, next } = await recordingServer();
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUInt32BE(4097);
    const client = await scriptedClient(port, clientId!, { finished: () => [header, Buffer.alloc(4097)] });
    assert.equal(await next(), 'ERR_FRAME_TOO_LARGE');
    client.socket.destroy();
  });
});
