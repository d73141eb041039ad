/**
 * Hostile clients for the server-bounds tests, written from docs/PROTOCOL.md:
 * a real netcrypt/1 client handshake over a raw socket (the sans-I/O
 * Handshake), after which the peer writes whatever records it likes —
 * here, fragments of a message it never finishes.
 */

import net from 'node:net';
import { loadBackend } from '../../src/backend/index.ts';
import { Handshake } from '../../src/handshake/handshake.ts';
import type { Identity } from '../../src/keys/identity.ts';
import { FrameDecoder } from '../../src/wire/frames.ts';
import { MAX_HANDSHAKE_FRAME } from '../../src/wire/handshake-messages.ts';
import { MAX_RECORD_FRAME, MAX_RECORD_PLAINTEXT, type RecordSealer, laneRecordType } from '../../src/wire/records.ts';

export interface RawPeer {
  socket: net.Socket;
  sealer: RecordSealer;
  /** Resolves when the server ends the connection. */
  closed: Promise<void>;
}

/** Dials and completes the client handshake by hand; the socket then carries only what the caller writes. */
export async function rawClient(port: number, identity: Identity, localAddress?: string): Promise<RawPeer> {
  const backend = await loadBackend('native');
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {}); // a dropped hog sees a reset; `closed` reports the end
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const handshake = new Handshake({ role: 'client', identity, backend });
  const decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME);
  const done = new Promise<RecordSealer>((resolve, reject) => {
    socket.once('close', () => reject(new Error('server closed during the handshake')));
    socket.on('data', function onData(chunk: Buffer) {
      try {
        decoder.push(chunk);
        for (let frame = decoder.next(); frame; frame = decoder.next()) {
          for (const out of handshake.receive(frame)) socket.write(out);
          if (handshake.state === 'await-trust') {
            for (const out of handshake.acceptPeer()) socket.write(out);
            for (const out of handshake.receiveQueued()) socket.write(out);
          }
          if (handshake.state === 'done') {
            decoder.maxFrameBytes = MAX_RECORD_FRAME;
            socket.off('data', onData);
            socket.on('data', () => {}); // whatever the server sends from here on is not read
            return resolve(handshake.session!.sealer);
          }
        }
      } catch (error) {
        reject(error);
      }
    });
  });
  socket.once('connect', () => {
    for (const out of handshake.start()) socket.write(out);
  });
  return { socket, sealer: await done, closed };
}

/**
 * Writes at least `bytes` of lane-0 fragments, none of them final (each a
 * full 64 KiB, as the protocol requires of a non-final fragment): a message
 * the server must hold until it is finished. Resolves once the socket has
 * taken them, or when the server has dropped the connection.
 */
export async function parkFragments(peer: RawPeer, bytes: number): Promise<void> {
  const fragment = Buffer.alloc(MAX_RECORD_PLAINTEXT, 0x5a);
  for (let sent = 0; sent < bytes && !peer.socket.destroyed; sent += fragment.length) {
    let flushed = true;
    for (const frame of peer.sealer.seal(laneRecordType(0, false), fragment)) flushed = peer.socket.write(frame);
    if (!flushed) await Promise.race([new Promise((resolve) => peer.socket.once('drain', resolve)), peer.closed]);
  }
}
