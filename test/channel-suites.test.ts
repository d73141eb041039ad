/** Record suites and key updates over real loopback TCP: negotiation, interop across backends, downgrade, ratcheting under traffic. */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadBackend } from '../src/backend/index.ts';
import type { BackendName } from '../src/backend/types.ts';
import { SecureChannel } from '../src/channel/secure-channel.ts';
import { NetcryptError } from '../src/errors.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { encodeHello, decodeHello } from '../src/wire/handshake-messages.ts';
import { RecordType, type SuiteName } from '../src/wire/records.ts';
import { BACKEND_NAMES } from './helpers/backends.ts';
import { testIdentities } from './helpers/identities.ts';
import { frameProxy, serve } from './helpers/net.ts';
import { duplexPair } from '../src/channel/duplex-pair.ts';

const [serverId, clientId] = await testIdentities();
const TODAYS_FEATURES = ['a256cbc-hs512', 'x25519', 'rsa-oaep-sha256', 'lanes'];

type ServerOptions = Parameters<typeof createServer>[0];

/** An echo server; `outcomes` collects how each of its channels ended and which suite it used. */
async function echoServer(options: ServerOptions = {}) {
  const outcomes: { suite?: SuiteName; error?: NetcryptError }[] = [];
  const handshakeErrors: NetcryptError[] = [];
  const server = createServer({ identity: serverId, onHandshakeError: (e) => handshakeErrors.push(e), ...options }, async (channel) => {
    const outcome: (typeof outcomes)[number] = { suite: channel.suite };
    outcomes.push(outcome);
    try {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    } catch (error) {
      outcome.error = error as NetcryptError;
    }
  });
  const port = await serve(server);
  return { port, outcomes, handshakeErrors, close: () => server.close() };
}

async function echoes(channel: Channel, messages: Buffer[]): Promise<void> {
  for (const message of messages) await channel.send(message);
  for (const message of messages) assert.ok((await channel.receive()).equals(message), 'echo differs');
}

const MESSAGES = [Buffer.alloc(0), Buffer.from('hello'), randomBytes(16 * 1024 + 1), randomBytes(3 * 65536 + 7)];

describe('suite negotiation', () => {
  for (const suite of ['a256gcm', 'a256cbc-hs512'] as const) {
    for (const clientBackend of BACKEND_NAMES) {
      for (const serverBackend of BACKEND_NAMES) {
        it(`${suite}: a ${clientBackend} client and a ${serverBackend} server exchange messages both ways`, async () => {
          const server = await echoServer({ backend: serverBackend, suites: [suite] });
          const channel = await connect({ port: server.port, identity: clientId, trust: 'any', backend: clientBackend });
          assert.equal(channel.suite, suite);
          await echoes(channel, MESSAGES);
          await channel.close();
          server.close();
          assert.deepEqual(server.outcomes, [{ suite }]);
        });
      }
    }
  }

  it('by default two current peers use a256gcm; one restricted to a256cbc-hs512 gets it from either side', async () => {
    const server = await echoServer();
    const fast = await connect({ port: server.port, identity: clientId, trust: 'any' });
    assert.equal(fast.suite, 'a256gcm');
    const restricted = await connect({ port: server.port, identity: clientId, trust: 'any', suites: ['a256cbc-hs512'] });
    assert.equal(restricted.suite, 'a256cbc-hs512');
    await echoes(restricted, MESSAGES);
    await Promise.all([fast.close(), restricted.close()]);
    const cbcServer = await echoServer({ suites: ['a256cbc-hs512'] });
    const toCbc = await connect({ port: cbcServer.port, identity: clientId, trust: 'any' });
    assert.equal(toCbc.suite, 'a256cbc-hs512');
    await echoes(toCbc, MESSAGES);
    await toCbc.close();
    server.close();
    cbcServer.close();
    assert.deepEqual(server.outcomes, [{ suite: 'a256gcm' }, { suite: 'a256cbc-hs512' }]);
  });

  it('no suite in common is ERR_VERSION on both sides', async () => {
    const server = await echoServer({ suites: ['a256cbc-hs512'] });
    // A current peer that offers only a256gcm.
    await assert.rejects(connect({ port: server.port, identity: clientId, trust: 'any', suites: ['a256gcm'] }), (e: unknown) => {
      return e instanceof NetcryptError && (e.code === 'ERR_VERSION' || (e.code === 'ERR_PEER_ALERT' && e.peerCode === 'ERR_VERSION'));
    });
    server.close();
  });

  it('a peer from before negotiation (its hello byte for byte) talks a256cbc-hs512 to a current one, without key updates', async () => {
    const backend = await loadBackend('native');
    const [a, b] = duplexPair();
    let oldHello: Buffer | undefined;
    a.once('data', (chunk: Buffer) => (oldHello ??= chunk));
    const current = new SecureChannel(a, { role: 'client', identity: clientId!, backend });
    const old = new SecureChannel(b, { role: 'server', identity: serverId!, backend, keyUpdate: false });
    await Promise.all([current.ready, old.ready]);
    assert.equal(current.suite, 'a256cbc-hs512');
    assert.equal(old.suite, 'a256cbc-hs512');
    // What the old-style side sent is a hello with exactly the pre-negotiation feature list.
    const helloBytes = oldHello!.subarray(4, 4 + oldHello!.readUInt32BE(0));
    const hello = decodeHello(helloBytes);
    assert.deepEqual(hello.features, TODAYS_FEATURES);
    assert.ok(Buffer.from(encodeHello(hello)).equals(helloBytes));
    await assert.rejects(current.updateKeys(), { code: 'ERR_PROTOCOL' });
    await current.send('still here');
    assert.equal((await old.receive()).toString(), 'still here');
    await Promise.all([current.close(), old.close()]);
  });
});

/** Rewrites the first client→server frame (the hello) to list `features`; every other frame passes unchanged. */
function helloRewriter(features: (list: string[]) => string[]) {
  return (direction: string, frame: Buffer, index: number): Buffer[] => {
    if (direction !== 'c2s' || index !== 0) return [frame];
    const hello = decodeHello(frame);
    return [Buffer.from(encodeHello({ ...hello, features: features(hello.features) }))];
  };
}

const failsAuthentication = (e: unknown) =>
  e instanceof NetcryptError && (e.code === 'ERR_AUTH' || (e.code === 'ERR_PEER_ALERT' && e.peerCode === 'ERR_AUTH'));

describe('downgrade', () => {
  it('a relay that strips a256gcm from the client hello makes both sides fail authentication', async () => {
    const server = await echoServer({ handshakeTimeoutMs: 5000 });
    const proxy = await frameProxy(server.port, helloRewriter((list) => list.filter((f) => f !== 'a256gcm')));
    const error = await connect({ port: proxy.port, identity: clientId, trust: 'any', handshakeTimeoutMs: 5000 }).then(
      () => assert.fail('the downgraded handshake completed'),
      (e: unknown) => e,
    );
    assert.ok(failsAuthentication(error), String(error));
    // The server's view: it chose a256cbc-hs512 from the altered hello, and its key unwrap or FINISHED failed.
    while (server.handshakeErrors.length === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(failsAuthentication(server.handshakeErrors[0]), String(server.handshakeErrors[0]));
    assert.deepEqual(server.outcomes, []);
    proxy.close();
    server.close();
  });

  it('the unaltered hello through the same relay completes with a256gcm (the relay itself is transparent)', async () => {
    const server = await echoServer();
    const proxy = await frameProxy(server.port, helloRewriter((list) => list));
    const channel = await connect({ port: proxy.port, identity: clientId, trust: 'any' });
    assert.equal(channel.suite, 'a256gcm');
    await echoes(channel, [Buffer.from('through the relay')]);
    await channel.close();
    proxy.close();
    server.close();
  });
});

/** Streams `total` bytes client→server in random-sized messages; returns both SHA-256s and how many KEY_UPDATE frames crossed. */
async function transfer(options: { suite: SuiteName; client: BackendName; server: BackendName; total: number }) {
  let serverDigest: Promise<string> | undefined;
  const server = createServer({ identity: serverId, backend: options.server, suites: [options.suite], keyUpdateRecords: 16 }, async (channel) => {
    serverDigest = (async () => {
      const hash = createHash('sha256');
      let received = 0;
      for await (const message of channel) {
        hash.update(message);
        received += message.length;
        // Replies ride the server's own ratcheting direction.
        if (received % 7 === 0) await channel.send(`got ${received}`);
      }
      await channel.close();
      return hash.digest('hex');
    })();
    await serverDigest;
  });
  const port = await serve(server);
  let keyUpdates = { c2s: 0, s2c: 0 };
  const proxy = await frameProxy(port, (direction, frame, index) => {
    // A FINISHED-or-later GCM frame shows its type in the first byte; so does CBC.
    if (index >= 2 && frame[0] === RecordType.KEY_UPDATE) keyUpdates = { ...keyUpdates, [direction]: keyUpdates[direction as 'c2s' | 's2c'] + 1 };
    return [frame];
  });
  const channel = await connect({ port: proxy.port, identity: clientId, trust: 'any', backend: options.client, suites: [options.suite], keyUpdateRecords: 16 });
  channel.on('message', () => {});
  const hash = createHash('sha256');
  const seed = randomBytes(1 << 20);
  for (let sent = 0; sent < options.total; ) {
    const length = Math.min(options.total - sent, 1 + ((sent * 2654435761) >>> 0) % (1 << 20));
    const chunk = seed.subarray(0, length);
    hash.update(chunk);
    await channel.send(chunk);
    sent += length;
    if (sent % 5 === 0) await channel.updateKeys();
  }
  await channel.close();
  const digests = { client: hash.digest('hex'), server: await serverDigest! };
  proxy.close();
  server.close();
  return { digests, keyUpdates };
}

describe('key updates', () => {
  it('a256gcm: 256 MiB from a native client to a wasm server with a key update every 16 records arrive intact', async () => {
    const { digests, keyUpdates } = await transfer({ suite: 'a256gcm', client: 'native', server: 'wasm', total: 256 * 1024 * 1024 });
    assert.equal(digests.server, digests.client);
    assert.ok(keyUpdates.c2s >= (256 * 16) / 17, `only ${keyUpdates.c2s} key updates crossed`);
  });

  it('a256cbc-hs512: 128 MiB from a wasm client to a native server with a key update every 16 records arrive intact', async () => {
    const { digests, keyUpdates } = await transfer({ suite: 'a256cbc-hs512', client: 'wasm', server: 'native', total: 128 * 1024 * 1024 });
    assert.equal(digests.server, digests.client);
    assert.ok(keyUpdates.c2s >= (128 * 16) / 17, `only ${keyUpdates.c2s} key updates crossed`);
  });

  for (const suite of ['a256gcm', 'a256cbc-hs512'] as const) {
    for (const attack of ['dropped', 'replayed'] as const) {
      it(`${suite}: a ${attack} KEY_UPDATE fails authentication on both sides`, async () => {
        const server = await echoServer({ suites: [suite] });
        let seen = 0;
        const proxy = await frameProxy(server.port, (direction, frame, index) => {
          if (direction !== 'c2s' || index < 2 || frame[0] !== RecordType.KEY_UPDATE || seen++ > 0) return [frame];
          return attack === 'dropped' ? [] : [frame, frame];
        });
        const channel = await connect({ port: proxy.port, identity: clientId, trust: 'any', suites: [suite] });
        await echoes(channel, [Buffer.from('before')]);
        await channel.updateKeys();
        await channel.send('after');
        const error = await channel.receive().then(
          () => assert.fail('a record after the altered KEY_UPDATE was accepted'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof NetcryptError && error.code === 'ERR_PEER_ALERT' && error.peerCode === 'ERR_AUTH', String(error));
        while (server.outcomes.length === 0 || !server.outcomes[0]!.error) await new Promise((resolve) => setImmediate(resolve));
        assert.equal(server.outcomes[0]!.error!.code, 'ERR_AUTH');
        assert.equal(seen, 1);
        proxy.close();
        server.close();
      });
    }
  }
});
