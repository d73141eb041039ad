/**
 * duplexPair(): its stream semantics (order, half-close, backpressure,
 * destroy), and a whole channel over it — handshake, messages both ways, a
 * key update, the authenticated close — with no socket anywhere.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { describe, it, mock } from 'node:test';
import fc from 'fast-check';
import { duplexPair } from '../src/channel/duplex-pair.ts';
import { SecureChannel } from '../src/channel/secure-channel.ts';
import { ErrorCode, NetcryptError } from '../src/errors.ts';
import { secureSocket } from '../src/protocol/connect.ts';
import { loadBackend } from '../src/backend/index.ts';
import { testIdentities } from './helpers/identities.ts';

const [serverId, clientId] = await testIdentities();

/** Lets every callback and stream event already due run: what has not happened by then will not happen without more input. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

function readAll(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

describe('duplexPair()', () => {
  it('carries any sequence of writes, in order, both ways, and end() is the other side’s end of stream', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 30 }),
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 4096 }),
        async (leftWrites, rightWrites, highWaterMark) => {
          const [left, right] = duplexPair({ highWaterMark });
          const atRight = readAll(right);
          const atLeft = readAll(left);
          for (const chunk of leftWrites) left.write(chunk);
          left.end();
          // Half-close: the right side still writes after the left one ended.
          assert.deepEqual(await atRight, Buffer.concat(leftWrites));
          for (const chunk of rightWrites) right.write(chunk);
          right.end();
          assert.deepEqual(await atLeft, Buffer.concat(rightWrites));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('pushes back: a reader that stops holds the writer’s callbacks, and write() returns false', async () => {
    const highWaterMark = 4096;
    const [writer, reader] = duplexPair({ highWaterMark });
    reader.pause();
    let accepted = 0;
    let refusedAt = -1;
    const chunk = Buffer.alloc(1000);
    for (let i = 0; i < 200 && refusedAt < 0; i++) {
      if (!writer.write(chunk, () => accepted++)) refusedAt = i;
    }
    await settle();
    assert.ok(refusedAt >= 0, 'write() returned false');
    assert.ok(accepted * chunk.length <= 2 * highWaterMark, `only about a highWaterMark of writes completed (${accepted})`);
    // What the reader holds is bounded by its mark plus what the writer had buffered, not by what was written.
    assert.ok(reader.readableLength <= 2 * highWaterMark + chunk.length, `reader holds ${reader.readableLength} bytes`);
    const drained = new Promise((resolve) => writer.once('drain', resolve));
    const got = readAll(reader);
    reader.resume();
    await drained;
    writer.end();
    assert.equal((await got).length, (refusedAt + 1) * chunk.length);
    assert.equal(accepted, refusedAt + 1);
  });

  it('a write reaches the reader on a later tick, never from inside write()', async () => {
    const [writer, reader] = duplexPair();
    const seen: string[] = [];
    reader.on('data', (chunk: Buffer) => seen.push(chunk.toString()));
    writer.write('first');
    assert.deepEqual(seen, [], 'nothing delivered synchronously');
    await once(reader, 'data');
    assert.deepEqual(seen, ['first']);
  });

  it('a zero-length write’s callback runs once what was written before it has been read', async () => {
    const [writer, reader] = duplexPair({ highWaterMark: 1024 });
    reader.pause();
    let emptyDone = false;
    writer.write(Buffer.alloc(4096));
    writer.write(Buffer.alloc(0), () => (emptyDone = true));
    await settle();
    assert.equal(emptyDone, false, 'held while the data before it is unread');
    reader.resume();
    await new Promise((resolve) => writer.write(Buffer.alloc(0), resolve));
    assert.equal(emptyDone, true);
  });

  it('destroy() on one side: the other reads what it already got, then its end; a write then fails with EPIPE', async () => {
    const [gone, survivor] = duplexPair();
    survivor.pause();
    gone.write('last words');
    await settle();
    gone.destroy();
    const got = readAll(survivor);
    survivor.resume();
    assert.equal((await got).toString(), 'last words');
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => survivor.once('error', resolve));
    survivor.write('anyone?');
    assert.equal((await failed).code, 'EPIPE');
  });

  it('destroy() on one side fails the other’s write that it had not read yet', async () => {
    const [gone, survivor] = duplexPair();
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => survivor.once('error', resolve));
    const written = new Promise<Error | null | undefined>((resolve) => survivor.write(Buffer.alloc(100_000), resolve));
    await settle();
    gone.destroy();
    assert.equal(((await written) as NodeJS.ErrnoException | undefined)?.code, 'EPIPE');
    assert.equal((await failed).code, 'EPIPE');
  });

  it('refuses a highWaterMark that is not a positive integer', () => {
    for (const highWaterMark of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => duplexPair({ highWaterMark }), (error) => error instanceof NetcryptError && error.code === ErrorCode.INVALID_ARGUMENT);
    }
  });
});

/** Two ends of a link that carries bytes but no end of stream, like a serial line: end() on one end never reaches the other. */
function linkWithoutEnd(): [Duplex, Duplex] {
  const wrap = (inner: Duplex) => {
    const outer: Duplex = new Duplex({
      read: () => inner.resume(),
      write: (chunk: Buffer, _encoding, callback) => inner.write(chunk, callback),
      final: (callback) => callback(),
      destroy: (error, callback) => {
        inner.destroy();
        callback(error);
      },
    });
    inner.on('data', (chunk: Buffer) => outer.push(chunk) || inner.pause());
    return outer;
  };
  const [left, right] = duplexPair();
  return [wrap(left), wrap(right)];
}

describe('a channel over duplexPair()', () => {
  it('handshake, messages both ways, a key update each way, and the authenticated close on both sides', async () => {
    const [clientEnd, serverEnd] = duplexPair();
    const [client, server] = await Promise.all([
      secureSocket(clientEnd, 'client', { identity: clientId, pin: serverId!.fingerprint, backend: 'native' }),
      secureSocket(serverEnd, 'server', { identity: serverId, backend: 'native' }),
    ]);
    assert.equal(client.transport, clientEnd);
    assert.equal(client.peerFingerprint, serverId!.fingerprint);
    assert.equal(server.peerFingerprint, clientId!.fingerprint);
    assert.equal(client.verificationCode, server.verificationCode);

    const big = randomBytes(3 * 1024 * 1024 + 17);
    await client.send('hello');
    await client.send(big);
    assert.equal((await server.receive()).toString(), 'hello');
    assert.deepEqual(await server.receive(), big);

    await Promise.all([client.updateKeys(), server.updateKeys()]);
    await server.send('after the server’s key update');
    await client.send('after the client’s key update');
    assert.equal((await client.receive()).toString(), 'after the server’s key update');
    assert.equal((await server.receive()).toString(), 'after the client’s key update');

    const closes = [client, server].map((channel) => new Promise((resolve) => channel.once('close', resolve)));
    await Promise.all([client.close(), server.close()]);
    assert.deepEqual(await Promise.all(closes), [undefined, undefined]);
    assert.ok(client.closedCleanly && server.closedCleanly);
    assert.ok(clientEnd.destroyed && serverEnd.destroyed, 'the channel let its transport go');
  });

  it('over a link that carries no end of stream, the authenticated close completes without waiting for one', async () => {
    const [clientEnd, serverEnd] = linkWithoutEnd();
    const [client, server] = await Promise.all([
      secureSocket(clientEnd, 'client', { identity: clientId, pin: serverId!.fingerprint, backend: 'native' }),
      secureSocket(serverEnd, 'server', { identity: serverId, backend: 'native' }),
    ]);
    await client.send('one message');
    assert.equal((await server.receive()).toString(), 'one message');
    // With timers frozen the close timer cannot end it: only the CLOSE records crossing can.
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const closing = client.close();
      await once(server, 'end');
      await server.close();
      await closing;
    } finally {
      mock.timers.reset();
    }
    assert.ok(client.closedCleanly && server.closedCleanly);
  });

  it('a SecureChannel built directly on a pair end, and the end destroyed under it: ERR_TRUNCATED', async () => {
    const backend = await loadBackend('native');
    const [clientEnd, serverEnd] = duplexPair();
    const client = new SecureChannel(clientEnd, { role: 'client', identity: clientId!, backend });
    const server = new SecureChannel(serverEnd, { role: 'server', identity: serverId!, backend });
    await Promise.all([client.ready, server.ready]);
    const failed = server.receive();
    clientEnd.destroy();
    await assert.rejects(failed, (error) => error instanceof NetcryptError && error.code === ErrorCode.TRUNCATED);
    assert.equal(server.closedCleanly, false);
  });
});
