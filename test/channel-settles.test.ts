/**
 * Every call settles within its stated timeouts, whatever the peer and the
 * scheduler do: each window between dialling, resolving the identity and
 * backend, building the channel and its deadline, against real sockets and
 * peers that end, reset, go quiet or half-close at the worst moment.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { loadBackend } from '../src/backend/index.ts';
import { NetcryptError } from '../src/errors.ts';
import { Handshake } from '../src/handshake/handshake.ts';
import type { Identity } from '../src/keys/identity.ts';
import { connect, secureSocket } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { ClientProtocol } from '../src/protocol/seed-protocol.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve, socketPair } from './helpers/net.ts';

const [serverId, clientId] = await testIdentities();
const backend = await loadBackend('native');
const never = new Promise<Identity>(() => {});

/** A raw server that does `onSocket` with every connection. */
async function rawServer(onSocket: (socket: net.Socket) => void): Promise<number> {
  return serve(
    net.createServer((socket) => {
      socket.on('error', () => {});
      onSocket(socket);
    }),
  );
}

function helloFrame(role: 'client' | 'server'): Buffer {
  return Buffer.concat(new Handshake({ role, identity: serverId!, backend }).start());
}

const code = (...expected: string[]) => (error: unknown) => {
  assert.ok(error instanceof NetcryptError, String(error));
  assert.ok(expected.includes(error.code), `${error.code}: ${error.message}`);
  return true;
};

const client = (port: number, extra: Partial<Parameters<typeof connect>[0]> = {}) =>
  connect({ port, identity: clientId, trust: 'any', handshakeTimeoutMs: 2000, ...extra });

describe('connect() settles whatever the server does', () => {
  it('a server that accepts and ends at once: ERR_TRUNCATED', async () => {
    await assert.rejects(client(await rawServer((s) => s.end())), code('ERR_TRUNCATED'));
  });

  it('a server that accepts and resets at once: ERR_TRUNCATED (or ERR_CONNECT, when the reset beats the connect event)', async () => {
    await assert.rejects(client(await rawServer((s) => s.resetAndDestroy())), code('ERR_TRUNCATED', 'ERR_CONNECT'));
  });

  it('a server that sends its hello, then FIN: ERR_TRUNCATED', async () => {
    await assert.rejects(client(await rawServer((s) => s.end(helloFrame('server')))), code('ERR_TRUNCATED'));
  });

  it('a server that sends its hello and never reads: ERR_TIMEOUT', async () => {
    const port = await rawServer((s) => {
      s.pause();
      s.write(helloFrame('server'));
    });
    await assert.rejects(client(port, { handshakeTimeoutMs: 200 }), code('ERR_TIMEOUT'));
  });

  it('an identity that never resolves: the whole-call deadline gives ERR_TIMEOUT', async () => {
    const port = await rawServer(() => {});
    await assert.rejects(connect({ port, identity: never, trust: 'any', connectTimeoutMs: 100, handshakeTimeoutMs: 100 }), code('ERR_TIMEOUT'));
  });

  it('a signal aborted while the identity is resolved: ERR_ABORTED', async () => {
    const port = await rawServer(() => {});
    const controller = new AbortController();
    const pending = connect({ port, identity: never, trust: 'any', signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, code('ERR_ABORTED'));
  });

  it('200 sequential connections to a server that randomly ends, resets, half-answers or serves: every one settles', async () => {
    const honest = createServer({ identity: serverId, handshakeRate: false }, (channel) => channel.close());
    const honestPort = await serve(honest);
    let n = 0;
    const port = await rawServer((socket) => {
      switch (n++ % 4) {
        case 0:
          return socket.end();
        case 1:
          return socket.resetAndDestroy();
        case 2:
          return socket.end(helloFrame('server'));
        default: {
          // Relay to the honest server.
          const upstream = net.connect(honestPort, '127.0.0.1');
          upstream.on('error', () => socket.destroy());
          socket.pipe(upstream).pipe(socket);
        }
      }
    });
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const outcome = await client(port).then(
        async (channel) => {
          await channel.close();
          return 'ok';
        },
        (error: unknown) => (error instanceof NetcryptError ? error.code : `not a NetcryptError: ${String(error)}`),
      );
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    for (const outcome of outcomes.keys()) assert.ok(['ERR_TRUNCATED', 'ERR_CONNECT', 'ok'].includes(outcome), JSON.stringify([...outcomes]));
    assert.equal(outcomes.get('ok'), 50);
  });
});

describe('secureSocket() settles whatever state the socket is in', () => {
  it('an identity that never resolves: ERR_TIMEOUT within handshakeTimeoutMs, and the socket is destroyed', async () => {
    const [a] = await socketPair();
    await assert.rejects(secureSocket(a, 'server', { identity: never, handshakeTimeoutMs: 100 }), code('ERR_TIMEOUT'));
    assert.ok(a.destroyed);
  });

  it('a socket whose end was already read: ERR_TRUNCATED', async () => {
    const [a, b] = await socketPair();
    a.on('data', () => {});
    b.end();
    await new Promise((resolve) => a.once('end', resolve));
    await assert.rejects(secureSocket(a, 'server', { identity: serverId }), code('ERR_TRUNCATED'));
  });

  it('a socket this side has already ended: ERR_TRUNCATED', async () => {
    const [a] = await socketPair();
    a.end();
    await assert.rejects(secureSocket(a, 'server', { identity: serverId }), code('ERR_TRUNCATED'));
  });

  it('a destroyed socket: ERR_TRUNCATED', async () => {
    const [a] = await socketPair();
    a.destroy();
    await assert.rejects(secureSocket(a, 'server', { identity: serverId }), code('ERR_TRUNCATED'));
  });

  it('a peer that sends its hello and FIN while the identity is still being resolved: ERR_TRUNCATED', async () => {
    const [a, b] = await socketPair();
    let release!: (identity: Identity) => void;
    const slow = new Promise<Identity>((resolve) => (release = resolve));
    const pending = secureSocket(a, 'server', { identity: slow });
    b.end(helloFrame('client'));
    await new Promise((resolve) => b.once('finish', resolve));
    release(serverId!);
    await assert.rejects(pending, code('ERR_TRUNCATED'));
  });

  it('the seed API on a socket the peer has reset: a NetcryptError, not a hang', async () => {
    const [a, b] = await socketPair();
    b.resetAndDestroy();
    await new Promise((resolve) => a.once('close', resolve).once('error', () => {}));
    await assert.rejects(new ClientProtocol({ keyPair: clientId, handshakeTimeoutMs: 500 }).publicKeyExchange(a), code('ERR_TRUNCATED'));
  });
});
