/** connect()'s trust options over real loopback: a choice is required, known hosts are recorded only once the application accepts. */

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isNetcryptError } from '../src/errors.ts';
import { type Identity, processIdentity } from '../src/keys/identity.ts';
import { connect, secureSocket } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve, socketPair } from './helpers/net.ts';
import { duplexPair } from '../src/channel/duplex-pair.ts';

const [serverId, clientId, otherServerId] = (await testIdentities()) as [Identity, Identity, Identity];
const dir = await mkdtemp(join(tmpdir(), 'netcrypt-trust-'));
after(() => rm(dir, { recursive: true, force: true }));

/** An echo server that counts the TCP connections it was offered. */
async function echo(identity: Identity) {
  let connections = 0;
  const server = createServer({ identity }, async (channel) => {
    for await (const message of channel) await channel.send(message);
    await channel.close();
  });
  server.on('connection', () => connections++);
  const port = await serve(server);
  return { port, connections: () => connections };
}

describe('connect() requires a trust choice', () => {
  it('without pin, knownHosts, verifyPeer or trust it is ERR_INVALID_ARGUMENT naming them, and dials nothing', async () => {
    const server = await echo(serverId);
    await assert.rejects(connect({ port: server.port, identity: clientId }), (error: unknown) => {
      assert.ok(isNetcryptError(error, 'ERR_INVALID_ARGUMENT'));
      for (const option of ['pin', 'knownHosts', 'verifyPeer', "trust: 'any'"]) assert.ok(error.message.includes(option), option);
      return true;
    });
    assert.equal(server.connections(), 0);
  });

  it("trust: 'any' accepts any key; combined with a pin it is refused", async () => {
    const server = await echo(serverId);
    const channel = await connect({ port: server.port, identity: clientId, trust: 'any' });
    assert.equal(channel.peerFingerprint, serverId.fingerprint);
    await channel.close();
    await assert.rejects(connect({ port: server.port, identity: clientId, trust: 'any', pin: serverId.fingerprint }), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(connect({ port: server.port, identity: clientId, trust: 'all' as 'any' }), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('secureSocket() as the client needs a choice too, and destroys the transport it was given', async () => {
    const [a] = duplexPair();
    await assert.rejects(secureSocket(a, 'client', { identity: clientId }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.ok(a.destroyed);
  });

  it('a supplied socket is destroyed when the trust choice is missing', async () => {
    const [a, b] = await socketPair();
    after(() => b.destroy());
    await assert.rejects(connect({ port: 0, socket: a, identity: clientId }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.ok(a.destroyed);
  });
});

describe('connect() without an identity', () => {
  it('presents the one process identity on every connection', async () => {
    const seen: string[] = [];
    const server = createServer({ identity: serverId }, async (channel) => {
      seen.push(channel.peerFingerprint!);
      await channel.close();
    });
    const port = await serve(server);
    for (let i = 0; i < 2; i++) {
      const channel = await connect({ port, pin: serverId.fingerprint });
      for await (const _ of channel);
    }
    const expected = (await processIdentity()).fingerprint;
    assert.deepEqual(seen, [expected, expected]);
  });
});

describe('known hosts through connect()', () => {
  it('verifyPeer is told the key is new; refusing it records nothing, accepting records it, and then it is known', async () => {
    const server = await echo(serverId);
    const knownHosts = join(dir, 'ask', 'known_hosts');
    const seen: (string | undefined)[] = [];
    await assert.rejects(
      connect({
        port: server.port,
        identity: clientId,
        knownHosts,
        verifyPeer: (_peer, trust) => {
          seen.push(trust.knownHosts);
          throw new Error('the user said no');
        },
      }),
      /the user said no/,
    );
    await assert.rejects(stat(knownHosts), { code: 'ENOENT' }, 'a refused key is not recorded');
    for (const expected of ['new', 'known']) {
      const channel = await connect({ port: server.port, identity: clientId, knownHosts, verifyPeer: (_peer, trust) => void seen.push(trust.knownHosts) });
      await channel.close();
      assert.equal(seen.at(-1), expected);
    }
    assert.deepEqual(seen, ['new', 'new', 'known']);
    assert.equal(await readFile(knownHosts, 'utf8'), `127.0.0.1:${server.port} ${serverId.fingerprint}\n`);
  });

  it('without knownHosts, verifyPeer gets no known-hosts status', async () => {
    const server = await echo(serverId);
    let trust: object | undefined;
    const channel = await connect({ port: server.port, identity: clientId, verifyPeer: (_peer, given) => void (trust = given) });
    await channel.close();
    assert.deepEqual(trust, {});
  });

  it('knownHosts: true files the key in ~/.netcrypt/known_hosts under the real home folder', async (t) => {
    const home = await mkdtemp(join(dir, 'home-'));
    const previous = process.env.HOME;
    process.env.HOME = home;
    t.after(() => {
      process.env.HOME = previous;
    });
    const server = await echo(serverId);
    const channel = await connect({ port: server.port, identity: clientId, knownHosts: true });
    await channel.close();
    assert.equal(await readFile(join(home, '.netcrypt', 'known_hosts'), 'utf8'), `127.0.0.1:${server.port} ${serverId.fingerprint}\n`);
  });

  it('two simultaneous first contacts under one name with different keys: one is recorded, the other refused', async () => {
    const [honest, interceptor] = await Promise.all([echo(serverId), echo(otherServerId)]);
    const knownHosts = join(dir, 'race', 'known_hosts');
    const attempt = (port: number) => connect({ port, identity: clientId, knownHosts, peerId: 'bank.example:443' });
    const results = await Promise.allSettled([attempt(honest.port), attempt(interceptor.port)]);
    const accepted = results.filter((result): result is PromiseFulfilledResult<Awaited<ReturnType<typeof attempt>>> => result.status === 'fulfilled');
    const refused = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    assert.equal(accepted.length, 1);
    assert.equal(refused.length, 1);
    assert.ok(isNetcryptError(refused[0]!.reason, 'ERR_PEER_KEY_MISMATCH'), String(refused[0]!.reason));
    const winner = accepted[0]!.value.peerFingerprint;
    await accepted[0]!.value.close();
    assert.equal(await readFile(knownHosts, 'utf8'), `bank.example:443 ${winner}\n`);
  });
});

