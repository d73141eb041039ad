/** The sans-I/O handshake's ordering guarantees, driven by hand: no sockets, no timers. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadBackend } from '../src/backend/index.ts';
import { Handshake } from '../src/handshake/handshake.ts';
import { FrameDecoder } from '../src/wire/frames.ts';
import { RecordType } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';

const backend = await loadBackend('native');
const [clientIdentity, serverIdentity] = await testIdentities();

/** Frame payloads out of what a handshake step returned. */
function payloads(out: Uint8Array[]): Buffer[] {
  const decoder = new FrameDecoder(1 << 16);
  for (const bytes of out) decoder.push(Buffer.from(bytes));
  const frames: Buffer[] = [];
  for (let frame = decoder.next(); frame; frame = decoder.next()) frames.push(frame);
  return frames;
}

describe('handshake ordering', () => {
  it('a peer key that arrives while trust is pending is held until ours is out, so both RSA unwraps can overlap', () => {
    const client = new Handshake({ role: 'client', identity: clientIdentity!, backend });
    const server = new Handshake({ role: 'server', identity: serverIdentity!, backend });
    const [clientHello] = payloads(client.start());
    const [serverHello] = payloads(server.start());

    // The server trusts at once; its key reaches the client in the same read as its hello.
    server.receive(clientHello!);
    const [serverKey] = payloads(server.acceptPeer());
    assert.deepEqual(client.receive(serverHello!), []);
    assert.deepEqual(client.receive(serverKey!), [], 'nothing is sent before the caller decides trust');
    assert.equal(client.state, 'await-trust');

    const accepted = payloads(client.acceptPeer());
    assert.equal(accepted.length, 1, 'acceptPeer() returns only our key message');
    assert.equal(client.state, 'await-key', 'the queued peer key is not unwrapped yet');

    const [clientFinished] = payloads(client.receiveQueued());
    assert.equal(client.state, 'await-finished');
    assert.equal(clientFinished![0], RecordType.FINISHED);
    assert.deepEqual(client.receiveQueued(), [], 'a queued key is processed once');

    const [serverFinished] = payloads(server.receive(accepted[0]!));
    server.receive(clientFinished!);
    client.receive(serverFinished!);
    assert.equal(client.state, 'done');
    assert.equal(server.state, 'done');
    assert.deepEqual(client.session!.transcriptHash, server.session!.transcriptHash);
  });

  it('receiveQueued() with nothing queued returns nothing and changes nothing', () => {
    const client = new Handshake({ role: 'client', identity: clientIdentity!, backend });
    const server = new Handshake({ role: 'server', identity: serverIdentity!, backend });
    client.start();
    const [serverHello] = payloads(server.start());
    client.receive(serverHello!);
    client.acceptPeer();
    assert.deepEqual(client.receiveQueued(), []);
    assert.equal(client.state, 'await-key');
  });
});
