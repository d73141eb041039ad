/**
 * Keys update under traffic without loss (issue #11): 2 GiB through a real
 * loopback channel, native backend, a256gcm, the sender ratcheting its key
 * every 256 records. A relay on the path counts the KEY_UPDATE records it
 * sees (the record type travels in the clear), and the receiver's SHA-256
 * of what arrived must equal the sender's of what was sent. Streamed: neither
 * side holds more than a message or two.
 */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, it } from 'node:test';
import type { Channel } from '../src/protocol/channel.ts';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { RecordType } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve } from './helpers/net.ts';

const [serverId, clientId] = await testIdentities();
const TOTAL = 2 * 1024 ** 3;
const CHUNK = 1024 * 1024;
const RECORDS_PER_KEY = 256;
/** A GCM KEY_UPDATE record's frame: type, no plaintext, 16-byte tag. */
const KEY_UPDATE_PAYLOAD_BYTES = 1 + 16;

/** Forwards both ways; counts the frames client → server that are KEY_UPDATE records, by their clear type byte and length. */
async function countingRelay(targetPort: number): Promise<{ port: number; keyUpdates: () => number }> {
  let keyUpdates = 0;
  const port = await serve(
    net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1');
      // Where the next frame header starts, as bytes still to skip, and a header split across chunks.
      let skip = 0;
      let header = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        let offset = 0;
        while (offset < chunk.length) {
          if (skip > 0) {
            const step = Math.min(skip, chunk.length - offset);
            skip -= step;
            offset += step;
            continue;
          }
          const need = 5 - header.length;
          header = Buffer.concat([header, chunk.subarray(offset, offset + need)]);
          offset += Math.min(need, chunk.length - offset);
          if (header.length < 5) break;
          const length = header.readUInt32BE(0);
          if (length === KEY_UPDATE_PAYLOAD_BYTES && header[4] === RecordType.KEY_UPDATE) keyUpdates++;
          skip = length - 1;
          header = Buffer.alloc(0);
        }
        if (!upstream.write(chunk)) {
          client.pause();
          upstream.once('drain', () => client.resume());
        }
      });
      upstream.pipe(client);
      client.on('end', () => upstream.end());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    }),
  );
  return { port, keyUpdates: () => keyUpdates };
}

describe('key updates under traffic', () => {
  it('2 GiB with a key update every 256 records arrives byte for byte', async () => {
    let serverChannel!: Promise<string>;
    const server = createServer({ identity: serverId, backend: 'native' }, async (channel: Channel) => {
      serverChannel = (async () => {
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const message of channel) {
          hash.update(message);
          bytes += message.length;
          if (bytes === TOTAL) break;
        }
        const digest = hash.digest('hex');
        await channel.send(digest);
        await channel.close();
        return digest;
      })();
      await serverChannel;
    });
    const relay = await countingRelay(await serve(server));
    const channel = await connect({ port: relay.port, identity: clientId, pin: serverId!.fingerprint, backend: 'native', keyUpdateRecords: RECORDS_PER_KEY });
    assert.equal(channel.suite, 'a256gcm');

    const chunk = randomBytes(CHUNK);
    const sent = createHash('sha256');
    for (let index = 0; index * CHUNK < TOTAL; index++) {
      // Every chunk differs, so a lost, repeated or reordered one changes the digest.
      chunk.writeUInt32BE(index, 0);
      sent.update(chunk);
      await channel.send(chunk);
    }
    const expected = sent.digest('hex');
    const reply = (await channel.receive()).toString();
    await channel.close();
    assert.equal(reply, expected);
    assert.equal(await serverChannel, expected);
    // 2 GiB in 64 KiB records is 32 768 records: one key update per 256 of them.
    assert.ok(relay.keyUpdates() >= TOTAL / (64 * 1024) / (RECORDS_PER_KEY + 1) - 1, `only ${relay.keyUpdates()} key updates on the wire`);
    assert.ok(channel.closedCleanly);
  });
});
