/**
 * What the channel's events and state say: a 'close' that looks clean only
 * after both authenticated closes, and one rule for who gets a message.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { NetcryptError } from '../src/errors.ts';
import { memoryChannels as pair } from './helpers/memory-pair.ts';

describe("the 'close' event and closedCleanly", () => {
  it('a clean close on both sides: no error, closedCleanly', async () => {
    const { client, server } = await pair();
    const events = [once(client, 'close'), once(server, 'close')];
    await Promise.all([client.close(), server.close()]);
    assert.deepEqual(await Promise.all(events), [[undefined], [undefined]]);
    assert.equal(client.closedCleanly, true);
    assert.equal(server.closedCleanly, true);
  });

  it('destroy() without an error does not look like an authenticated close, on either side', async () => {
    const { client, server } = await pair();
    assert.equal(client.closedCleanly, false);
    const local = once(client, 'close');
    const remote = once(server, 'close');
    client.destroy();
    const [localError] = (await local) as [NetcryptError];
    assert.ok(localError instanceof NetcryptError && localError.code === 'ERR_CLOSED', String(localError));
    assert.equal(client.closedCleanly, false);
    const [remoteError] = (await remote) as [NetcryptError];
    assert.equal(remoteError.code, 'ERR_TRUNCATED');
    assert.equal(server.closedCleanly, false);
  });

  it('destroy(error): the close event carries that error', async () => {
    const { client } = await pair();
    const closed = once(client, 'close');
    const reason = new NetcryptError('ERR_PROTOCOL', 'given up');
    client.destroy(reason);
    assert.deepEqual(await closed, [reason]);
    assert.equal(client.closedCleanly, false);
  });
});

describe("who gets a message: a pending receive() before a 'message' listener, before the queue", () => {
  it('each message goes to exactly one consumer, by that rule', async () => {
    const { client, server } = await pair();
    const heard: string[] = [];
    // Two messages (one BATCH record) before anyone listens: they are queued. The channel reads
    // the transport before this test's own 'data' listener, so once that fires they are in.
    const arrived = once(client.transport, 'data');
    await Promise.all([server.send('queued 1'), server.send('queued 2')]);
    await arrived;
    client.on('message', (m) => heard.push(m.toString()));
    // The listener does not drain the queue: receive() gets the queued messages, in order.
    assert.equal((await client.receive()).toString(), 'queued 1');
    assert.equal((await client.receive()).toString(), 'queued 2');
    // A pending receive() takes the next message ahead of the listener.
    const pending = client.receive();
    await server.send('to receive');
    await server.send('to the listener');
    assert.equal((await pending).toString(), 'to receive');
    await server.send('also to the listener');
    const ended = once(client, 'end');
    const serverClosed = server.close();
    await ended;
    assert.deepEqual(heard, ['to the listener', 'also to the listener']);
    await Promise.all([client.close(), serverClosed]);
  });
});
