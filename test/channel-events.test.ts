/**
 * What the channel's events and state say: a 'close' that looks clean only
 * after both authenticated closes, readyState through a channel's life, and
 * one rule for who gets a message.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { loadBackend } from '../src/backend/index.ts';
import { SecureChannel } from '../src/channel/secure-channel.ts';
import { NetcryptError } from '../src/errors.ts';
import { memoryChannels as pair } from './helpers/memory-pair.ts';
import { testIdentities } from './helpers/identities.ts';
import { socketPair } from './helpers/net.ts';

const [serverId, clientId] = await testIdentities();

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

describe('readyState', () => {
  it("'handshaking' from construction, 'open' once the handshake is done", async () => {
    const backend = await loadBackend('native');
    const [a, b] = await socketPair();
    const client = new SecureChannel(a, { role: 'client', identity: clientId!, backend });
    const server = new SecureChannel(b, { role: 'server', identity: serverId!, backend });
    assert.deepEqual([client.readyState, server.readyState], ['handshaking', 'handshaking']);
    assert.equal(client.closed, false);
    await Promise.all([client.ready, server.ready]);
    assert.deepEqual([client.readyState, server.readyState], ['open', 'open']);
    await Promise.all([client.close(), server.close()]);
    assert.deepEqual([client.readyState, server.readyState], ['closed', 'closed']);
  });

  it("a refused peer: 'handshaking' straight to 'closed'", async () => {
    const backend = await loadBackend('native');
    const [a, b] = await socketPair();
    const refusing = new SecureChannel(a, {
      role: 'client', identity: clientId!, backend,
      verifyPeer: () => {
        throw new NetcryptError('ERR_PEER_KEY_MISMATCH', 'not this key');
      },
    });
    const server = new SecureChannel(b, { role: 'server', identity: serverId!, backend });
    await assert.rejects(refusing.ready, (error: unknown) => error instanceof NetcryptError && error.code === 'ERR_PEER_KEY_MISMATCH');
    assert.equal(refusing.readyState, 'closed');
    await assert.rejects(server.ready);
    assert.equal(server.readyState, 'closed');
  });

  it("'closing' from close() and on the peer from that CLOSE, while the side that received it still sends; 'closed' after the second", async () => {
    const { client, server } = await pair();
    const ended = once(server, 'end');
    const clientClosed = client.close();
    assert.equal(client.readyState, 'closing', 'from the call on');
    await ended;
    assert.equal(client.closed, true, 'its CLOSE has left');
    assert.equal(server.readyState, 'closing');
    await server.send('a last reply after the peer closed');
    assert.equal((await client.receive()).toString(), 'a last reply after the peer closed');
    assert.equal(client.readyState, 'closing');
    await Promise.all([server.close(), clientClosed]);
    assert.deepEqual([client.readyState, server.readyState], ['closed', 'closed']);
    assert.deepEqual([client.closedCleanly, server.closedCleanly], [true, true]);
  });

  it("destroy(): 'closed' at once here, and on the peer once the connection drops", async () => {
    const { client, server } = await pair();
    const serverClosed = once(server, 'close');
    client.destroy();
    assert.equal(client.readyState, 'closed');
    const [error] = (await serverClosed) as [NetcryptError];
    assert.equal(error.code, 'ERR_TRUNCATED');
    assert.equal(server.readyState, 'closed');
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
