/** The seed library's API over real loopback TCP. */

import assert from 'node:assert/strict';
import type net from 'node:net';
import { describe, it } from 'node:test';
import { ClientProtocol, ServerProtocol } from '../src/protocol/seed-protocol.ts';
import { NetcryptError } from '../src/errors.ts';
import { testIdentities } from './helpers/identities.ts';
import { socketPair } from './helpers/net.ts';

const [serverId, clientId, otherId] = await testIdentities();

async function pair(): Promise<{ server: ServerProtocol; client: ClientProtocol; conn: net.Socket; sock: net.Socket }> {
  const [sock, conn] = await socketPair();
  return { server: new ServerProtocol({ keyPair: serverId }), client: new ClientProtocol({ keyPair: clientId }), conn, sock };
}

describe('seed API', () => {
  it('runs the seed flow: server speaks first', async () => {
    const { server, client, conn, sock } = await pair();
    const serverSide = (async () => {
      const clientKey = await server.publicKeyExchange(conn);
      server.setPublicKey(clientKey);
      await server.sendCryptoStream(conn, Buffer.from('Welcome to the server'));
      return server.recvCryptoStream(conn);
    })();
    const serverKey = await client.publicKeyExchange(sock);
    client.setPublicKey(serverKey);
    assert.equal(serverKey, await server.publicKey());
    assert.equal((await client.recvCryptoStream(sock)).toString(), 'Welcome to the server');
    await client.sendCryptoStream(sock, 'Thanks for having me');
    assert.equal((await serverSide).toString(), 'Thanks for having me');
    sock.destroy();
  });

  it('runs with the client speaking first, and with the exchange called in either order', async () => {
    for (const clientFirst of [true, false]) {
      const { server, client, conn, sock } = await pair();
      // One side calls, and its hello is on the wire, well before the other side calls.
      const first = clientFirst ? client.publicKeyExchange(sock) : server.publicKeyExchange(conn);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = clientFirst ? server.publicKeyExchange(conn) : client.publicKeyExchange(sock);
      const [serverKey, clientKey] = clientFirst ? [await first, await second] : [await second, await first];
      client.setPublicKey(serverKey!);
      server.setPublicKey(clientKey!);
      // Both send before either receives: nothing deadlocks.
      await Promise.all([client.sendCryptoStream(sock, 'from client'), server.sendCryptoStream(conn, new Uint8Array([1, 2, 3]))]);
      assert.equal((await server.recvCryptoStream(conn)).toString(), 'from client');
      assert.deepEqual([...(await client.recvCryptoStream(sock))], [1, 2, 3]);
      sock.destroy();
    }
  });

  it('setPublicKey with a key the peer did not present throws ERR_PEER_KEY_MISMATCH and closes', async () => {
    const { server, client, conn, sock } = await pair();
    const [, serverKey] = await Promise.all([server.publicKeyExchange(conn), client.publicKeyExchange(sock)]);
    assert.ok(serverKey.includes('BEGIN PUBLIC KEY'));
    assert.throws(() => client.setPublicKey(otherId!.publicKeyDer), { code: 'ERR_PEER_KEY_MISMATCH' });
    await assert.rejects(client.sendCryptoStream(sock, 'x'), { code: 'ERR_PEER_KEY_MISMATCH' });
    await assert.rejects(server.recvCryptoStream(conn), (e: unknown) => e instanceof NetcryptError);
  });

  it('a key pinned before the exchange refuses a different peer during the handshake', async () => {
    const { server, client, conn, sock } = await pair();
    client.setPublicKey(otherId!.publicKeyDer);
    const serverSide = server.publicKeyExchange(conn);
    await assert.rejects(client.publicKeyExchange(sock), { code: 'ERR_PEER_KEY_MISMATCH' });
    await serverSide.catch(() => {});
    await assert.rejects(server.recvCryptoStream(conn), (e: unknown) => e instanceof NetcryptError);
  });

  it('recvCryptoStream rejects with a NetcryptError on EOF, never a string or TypeError', async () => {
    const { server, client, conn, sock } = await pair();
    await Promise.all([server.publicKeyExchange(conn), client.publicKeyExchange(sock)]);
    await server.sendCryptoStream(conn, 'ready');
    await client.recvCryptoStream(sock);
    sock.destroy();
    await assert.rejects(server.recvCryptoStream(conn), { code: 'ERR_TRUNCATED' });
  });

  it('constructing a protocol object does not block the event loop', async () => {
    let ticks = 0;
    const interval = setInterval(() => ticks++, 1);
    const started = performance.now();
    const protocol = new ServerProtocol({ keySize: 2048 });
    const constructMs = performance.now() - started;
    await protocol.identity;
    clearInterval(interval);
    assert.ok(constructMs < 50, `constructor took ${constructMs} ms`);
    assert.ok(ticks > 0, 'timers ran while the key was generated');
    assert.equal((await protocol.identity).modulusLength, 2048);
  });

  it('accepts 2048, 3072 and 4096-bit keys only', () => {
    for (const keySize of [1024, 1000, 5000]) assert.throws(() => new ClientProtocol({ keySize: keySize as 2048 }), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('send before publicKeyExchange is an argument error', async () => {
    const { client, sock } = await pair();
    await assert.rejects(client.sendCryptoStream(sock, 'x'), { code: 'ERR_INVALID_ARGUMENT' });
    sock.destroy();
  });
});
