/**
 * Alerts (docs/PROTOCOL.md §3): the side that gives up tells the peer why,
 * and the peer reports that code as the peer's — over real loopback sockets,
 * against real channels and scripted peers.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { NetcryptError } from '../src/errors.ts';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { encodeAlertMessage } from '../src/wire/alerts.ts';
import { FrameDecoder, encodeFrame } from '../src/wire/frames.ts';
import { RecordType, laneRecordType } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';
import { memoryChannels } from './helpers/memory-pair.ts';
import { connectRaw, frameProxy, serve } from './helpers/net.ts';
import { scriptedClient } from './helpers/scripted-peer.ts';

const [serverId, clientId, otherId] = await testIdentities();

/** Everything a raw socket receives until the peer ends the connection, as frames; and whether it ended with a FIN. */
async function readToEnd(socket: net.Socket): Promise<{ frames: Buffer[]; fin: boolean }> {
  const decoder = new FrameDecoder(1 << 20);
  let fin = false;
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  socket.on('end', () => (fin = true));
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('close', resolve));
  const frames: Buffer[] = [];
  for (let frame = decoder.next(); frame; frame = decoder.next()) frames.push(frame);
  return { frames, fin };
}

function serverWithErrors(options: Parameters<typeof createServer>[0] = {}, onChannel: Parameters<typeof createServer>[1] = () => {}) {
  const errors: NetcryptError[] = [];
  let notify: (() => void) | undefined;
  const record = (error: unknown) => {
    errors.push(error as NetcryptError);
    notify?.();
  };
  const server = createServer({ identity: serverId, onHandshakeError: record, onChannelError: record, ...options }, onChannel);
  const next = async (): Promise<NetcryptError> => {
    while (errors.length === 0) await new Promise<void>((resolve) => (notify = resolve));
    return errors.shift()!;
  };
  return { server, next };
}

const peerAlert = (peerCode: string, authenticated: boolean) => (error: unknown) => {
  assert.ok(error instanceof NetcryptError, String(error));
  assert.equal(error.code, 'ERR_PEER_ALERT');
  assert.equal(error.peerCode, peerCode);
  assert.equal(error.authenticated, authenticated);
  assert.equal(error.origin, 'peer');
  assert.ok(error.message.includes(`the peer reported ${peerCode}`), error.message);
  return true;
};

describe('sending alerts', () => {
  it('a server that refuses the client key says so: the client reports the peer’s ERR_PEER_KEY_MISMATCH, unauthenticated', async () => {
    const { server, next } = serverWithErrors({ pin: otherId!.fingerprint });
    const port = await serve(server);
    await assert.rejects(connect({ port, identity: clientId, pin: serverId!.fingerprint }), peerAlert('ERR_PEER_KEY_MISMATCH', false));
    assert.equal((await next()).code, 'ERR_PEER_KEY_MISMATCH');
  });

  it('a server that gives up on its handshake deadline sends exactly the plaintext alert frame, then a FIN', async () => {
    const { server, next } = serverWithErrors({ handshakeTimeoutMs: 100 });
    const socket = await connectRaw(await serve(server));
    const { frames, fin } = await readToEnd(socket);
    assert.equal((await next()).code, 'ERR_TIMEOUT');
    assert.equal(frames.length, 2, 'the hello, then the alert');
    assert.equal(frames[1]!.toString('hex'), `82a174a5616c657274a4636f6465ab${Buffer.from('ERR_TIMEOUT').toString('hex')}`);
    assert.ok(fin, 'the connection ended with a FIN, not a reset');
  });

  it('after the handshake the alert is an ALERT record (type 0x03) whose plaintext is the code', async () => {
    const { server, next } = serverWithErrors({}, async (channel) => {
      await channel.receive();
    });
    const peer = await scriptedClient(await serve(server), clientId!);
    peer.socket.write(peer.record(laneRecordType(0, true), Buffer.alloc(0)));
    await peer.closed;
    assert.equal((await next()).code, 'ERR_PROTOCOL');
    assert.equal(peer.frames.length, 1);
    const alert = peer.opener.open(peer.frames[0]!);
    assert.equal(alert.type, RecordType.ALERT);
    assert.equal(Buffer.from(alert.plaintext).toString(), 'ERR_PROTOCOL');
  });

  it('no alert follows this side’s CLOSE: a failure after close() leaves the peer a clean end, not ERR_PROTOCOL', async () => {
    const { client, server } = await memoryChannels();
    const ended = new Promise<void>((resolve) => client.once('end', resolve));
    const clientClosed = new Promise<NetcryptError | undefined>((resolve) => client.once('close', resolve));
    void server.close().catch(() => {});
    await ended;
    // A layer above gives up after the CLOSE has gone (e.g. a file receiver told ERR_CLOSED by its own close).
    server.destroy(new NetcryptError('ERR_FILE_IO', 'gave up after closing'));
    const error = await clientClosed;
    assert.notEqual(error?.code, 'ERR_PROTOCOL', error?.message);
    assert.notEqual(error?.code, 'ERR_PEER_ALERT', error?.message);
  });

  it('a tampered FINISHED: the server answers with an authenticated ERR_AUTH alert the client reads', async () => {
    const { server } = serverWithErrors();
    const port = await serve(server);
    // Client→server frames: hello, key, FINISHED; flip a tag byte of the FINISHED.
    const proxy = await frameProxy(port, (direction, frame, index) => {
      if (direction !== 'c2s' || index !== 2) return [frame];
      const copy = Buffer.from(frame);
      copy[copy.length - 1]! ^= 1;
      return [copy];
    });
    // The server's own FINISHED was sound, so the client's handshake completes; the alert follows.
    const channel = await connect({ port: proxy.port, identity: clientId, pin: serverId!.fingerprint });
    await assert.rejects(channel.receive(), peerAlert('ERR_AUTH', true));
    proxy.close();
  });
});

describe('receiving alerts', () => {
  it('an ALERT record is reported as the peer’s code, authenticated', async () => {
    let outcome: unknown;
    const { server, next } = serverWithErrors({}, async (channel) => {
      try {
        await channel.receive();
      } catch (error) {
        outcome = error;
        throw error;
      }
    });
    const peer = await scriptedClient(await serve(server), clientId!);
    peer.socket.write(peer.record(RecordType.ALERT, Buffer.from('ERR_FILE_EXISTS')));
    await next();
    assert.ok(peerAlert('ERR_FILE_EXISTS', true)(outcome));
    await peer.closed;
    assert.equal(peer.frames.length, 0, 'an alert is never answered with an alert');
  });

  it('a plaintext alert during the handshake is reported as unauthenticated, and not answered', async () => {
    const { server, next } = serverWithErrors();
    const socket = await connectRaw(await serve(server));
    socket.write(encodeFrame(encodeAlertMessage('ERR_VERSION')));
    const ended = readToEnd(socket);
    assert.ok(peerAlert('ERR_VERSION', false)(await next()));
    const { frames } = await ended;
    assert.equal(frames.length, 1, 'only the server hello');
  });

  for (const [name, payload] of [
    ['a code in lower case', Buffer.concat([Buffer.from('82a174a5616c657274a4636f6465ab', 'hex'), Buffer.from('err_timeout')])],
    ['a length that disagrees with the code', Buffer.concat([Buffer.from('82a174a5616c657274a4636f6465ac', 'hex'), Buffer.from('ERR_TIMEOUT')])],
    ['trailing bytes', Buffer.concat([encodeAlertMessage('ERR_TIMEOUT'), Buffer.from([0])])],
    ['a code without the ERR_ prefix', Buffer.concat([Buffer.from('82a174a5616c657274a4636f6465a4', 'hex'), Buffer.from('OOPS')])],
  ] as const) {
    it(`a malformed plaintext alert (${name}) is ERR_PROTOCOL`, async () => {
      const { server, next } = serverWithErrors();
      const socket = await connectRaw(await serve(server));
      socket.on('error', () => {});
      socket.write(encodeFrame(payload));
      assert.equal((await next()).code, 'ERR_PROTOCOL');
      socket.destroy();
    });
  }

  it('an ALERT record with a malformed code is ERR_PROTOCOL', async () => {
    let outcome: unknown;
    const { server, next } = serverWithErrors({}, async (channel) => {
      await channel.receive().catch((error: unknown) => {
        outcome = error;
        throw error;
      });
    });
    const peer = await scriptedClient(await serve(server), clientId!);
    peer.socket.write(peer.record(RecordType.ALERT, Buffer.from('ERR timeout')));
    await next();
    assert.equal((outcome as NetcryptError).code, 'ERR_PROTOCOL');
    peer.socket.destroy();
  });
});
