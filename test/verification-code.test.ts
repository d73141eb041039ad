/** channel.verificationCode: the short code two people compare, over real loopback connections. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { verificationCode } from '../src/handshake/verification-code.ts';
import { testIdentities } from './helpers/identities.ts';
import { byteProxy, serve } from './helpers/net.ts';
import { duplexPair } from '../src/channel/duplex-pair.ts';
import { SecureChannel } from '../src/channel/secure-channel.ts';
import { loadBackend } from '../src/backend/index.ts';

const [serverId, clientId, mitmId] = await testIdentities();

/** A server that hands its channels out, so the test can read the server side's code. */
async function codeServer() {
  const channels: Channel[] = [];
  let arrived!: () => void;
  let next = new Promise<void>((resolve) => (arrived = resolve));
  const server = createServer({ identity: serverId }, (channel) => {
    channels.push(channel);
    arrived();
    next = new Promise<void>((resolve) => (arrived = resolve));
  });
  const port = await serve(server);
  const accepted = async () => {
    while (channels.length === 0) await next;
    return channels.shift()!;
  };
  return { port, accepted };
}

describe('verificationCode', () => {
  it('is 15 digits in three groups, from HKDF-SHA-256 of the transcript hash (vector computed outside netcrypt)', () => {
    // Python: hmac-based HKDF, ikm = bytes(range(32)), salt = b'', info = b'netcrypt/1 verification code', 16 bytes, mod 10**15.
    assert.equal(verificationCode(Uint8Array.from({ length: 32 }, (_, i) => i)), '51586 89154 07900');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (hash) => {
        assert.match(verificationCode(hash), /^\d{5} \d{5} \d{5}$/);
      }),
    );
  });

  it('is the same on both ends of a connection, also through a relay that only forwards bytes, and differs per connection', async () => {
    const { port, accepted } = await codeServer();
    const client = await connect({ port, identity: clientId, pin: serverId!.fingerprint });
    const server = await accepted();
    await server.ready;
    assert.match(client.verificationCode!, /^\d{5} \d{5} \d{5}$/);
    assert.equal(client.verificationCode, server.verificationCode);

    const proxy = await byteProxy(port, (_direction, chunk) => chunk);
    const relayed = await connect({ port: proxy.port, identity: clientId, pin: serverId!.fingerprint });
    const relayedServer = await accepted();
    await relayedServer.ready;
    assert.equal(relayed.verificationCode, relayedServer.verificationCode);
    assert.notEqual(relayed.verificationCode, client.verificationCode);
    for (const channel of [client, server, relayed, relayedServer]) channel.destroy();
    proxy.close();
  });

  it('differs between the two ends when a relay substitutes its own key', async () => {
    const { port: serverPort, accepted } = await codeServer();
    const relayEnds: Channel[] = [];
    const relay = createServer({ identity: mitmId }, async (fromClient) => {
      relayEnds.push(fromClient, await connect({ port: serverPort, identity: mitmId, pin: serverId!.fingerprint }));
    });
    // The client accepts any key (verifyPeer that never refuses), as someone who has not pinned yet would.
    const client = await connect({ port: await serve(relay), identity: clientId, verifyPeer: () => {} });
    const server = await accepted();
    await server.ready;
    assert.equal(client.peerFingerprint, mitmId!.fingerprint);
    assert.ok(client.verificationCode && server.verificationCode);
    assert.notEqual(client.verificationCode, server.verificationCode);
    for (const channel of [client, server, ...relayEnds]) channel.destroy();
  });

  it('is undefined until the handshake is done', async () => {
    const [a, b] = duplexPair();
    const backend = await loadBackend('auto');
    const client = new SecureChannel(a, { role: 'client', identity: clientId!, backend });
    const server = new SecureChannel(b, { role: 'server', identity: serverId!, backend });
    assert.equal(client.verificationCode, undefined);
    await Promise.all([client.ready, server.ready]);
    assert.equal(client.verificationCode, server.verificationCode);
    client.destroy();
    server.destroy();
  });
});
