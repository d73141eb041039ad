/**
 * bench:channel's bulk rows: `size` bytes client → server over loopback,
 * the server in its own process (bench/channel-peer.ts), each side's CPU
 * time measured. The anchors move the same bytes: raw TCP, node:tls TLS 1.3,
 * the bare framing loop of each suite (bench/bare-records.ts) and
 * @hyperswarm/secret-stream; then netcrypt per backend and suite.
 */

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import SecretStream from '@hyperswarm/secret-stream';
import type { BackendName } from '../src/backend/types.ts';
import type { Identity } from '../src/keys/identity.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { connect } from '../src/protocol/connect.ts';
import type { SuiteName } from '../src/wire/records.ts';
import { BARE_RECORD_BYTES, BareSender, type BareSuite, bareKeyMaterial } from './bare-records.ts';
import { cpuMs, type Peer, startPeer } from './peer.ts';
import { watch } from './watchdog.ts';

/** The library's defaults, which the watchdog allows each call (plus its margin). */
export const CONNECT_MS = 10_000 + 10_000;
export const CLOSE_MS = 5_000;
export const REPLY_MS = 120_000;

/** What the sender hands over per call: 1 MiB, which netcrypt fragments into 64 KiB records. */
const CHUNK = 1 << 20;

export interface Bulk {
  MBps: number;
  /** CPU milliseconds per MB moved, each side. */
  clientCpuMsPerMB: number;
  serverCpuMsPerMB: number;
}

export interface BulkSetup {
  work: string;
  identity: Identity;
}

interface PeerCounts {
  bytes: number;
  messages: number;
  cpuMs: number;
}

function bulkResult(what: string, size: number, ms: number, clientCpuMs: number, counts: PeerCounts): Bulk {
  if (counts.bytes !== size) throw new Error(`${what}: the peer got ${counts.bytes} of ${size} bytes`);
  const megabytes = size / 1e6;
  return { MBps: megabytes / (ms / 1000), clientCpuMsPerMB: clientCpuMs / megabytes, serverCpuMsPerMB: counts.cpuMs / megabytes };
}

/** The peer's answer after the sender ended: JSON up to its own end. */
async function readCounts(stream: Duplex): Promise<PeerCounts> {
  let text = '';
  stream.on('data', (d: Buffer) => (text += d));
  await watch('the peer\'s counts', REPLY_MS, once(stream, 'end'));
  return JSON.parse(text) as PeerCounts;
}

/** Writes `size` bytes with `writeChunk` (which returns false when the stream wants a drain), ends, and reads the counts. */
async function streamBulk(what: string, peer: Peer, stream: Duplex, size: number, writeChunk: (chunk: Buffer) => boolean): Promise<Bulk> {
  const chunk = randomBytes(CHUNK);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  for (let sent = 0; sent < size; sent += CHUNK) {
    if (!writeChunk(chunk)) await once(stream, 'drain');
  }
  stream.end();
  const counts = await readCounts(stream);
  const result = bulkResult(what, size, performance.now() - t0, cpuMs() - cpu0, counts);
  peer.child.kill();
  return result;
}

/** Raw TCP, or node:tls TLS 1.3 (AES-256-GCM) with the work folder's RSA-2048 certificate. */
export async function socketBulk(setup: BulkSetup, mode: 'tcp' | 'tls', size: number): Promise<Bulk> {
  const peer = await startPeer(setup.work, mode);
  const socket: net.Socket =
    mode === 'tcp'
      ? net.connect({ port: peer.port, host: '127.0.0.1', allowHalfOpen: true })
      : tls.connect({ port: peer.port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  await watch(`${mode} connect`, CONNECT_MS, once(socket, mode === 'tcp' ? 'connect' : 'secureConnect'));
  return streamBulk(mode, peer, socket, size, (chunk) => socket.write(chunk));
}

/**
 * The bare framing loop: each 1 MiB chunk sealed as BARE_RECORD_BYTES
 * records straight on node:crypto, the pieces of all of them written into a
 * corked socket and flushed at once.
 */
export async function bareBulk(setup: BulkSetup, suite: BareSuite, size: number): Promise<Bulk> {
  if (CHUNK % BARE_RECORD_BYTES !== 0) throw new Error(`BARE_RECORD=${BARE_RECORD_BYTES} does not divide ${CHUNK}`);
  const material = bareKeyMaterial(suite);
  writeFileSync(join(setup.work, `bare-${suite}.key`), material);
  const peer = await startPeer(setup.work, 'bare', suite);
  const socket = net.connect({ port: peer.port, host: '127.0.0.1', allowHalfOpen: true });
  await watch('bare connect', CONNECT_MS, once(socket, 'connect'));
  const sender = new BareSender(suite, material);
  return streamBulk(`bare ${suite}`, peer, socket, size, (chunk) => {
    socket.cork();
    let flowing = true;
    for (let offset = 0; offset < chunk.length; offset += BARE_RECORD_BYTES) {
      for (const piece of sender.seal(chunk.subarray(offset, offset + BARE_RECORD_BYTES))) flowing = socket.write(piece);
    }
    socket.uncork();
    return flowing;
  });
}

/**
 * @hyperswarm/secret-stream (Noise XX handshake, libsodium secretstream:
 * XChaCha20-Poly1305) over TCP, written in 64 KiB messages — netcrypt's record size.
 */
export async function secretStreamBulk(setup: BulkSetup, size: number): Promise<Bulk> {
  const peer = await startPeer(setup.work, 'secret-stream');
  const socket = net.connect({ port: peer.port, host: '127.0.0.1', allowHalfOpen: true });
  const stream = new SecretStream(true, socket);
  await watch('secret-stream handshake', CONNECT_MS, once(stream, 'connect'));
  return streamBulk('secret-stream', peer, stream, size, (chunk) => {
    let flowing = true;
    for (let offset = 0; offset < chunk.length; offset += 65536) flowing = stream.write(chunk.subarray(offset, offset + 65536));
    return flowing;
  });
}

export async function openChannel(setup: BulkSetup, backend: BackendName, suites?: SuiteName[]): Promise<{ peer: Peer; channel: Channel }> {
  const peer = await startPeer(setup.work, 'netcrypt', backend);
  const channel = await watch(`connect() to the ${backend} peer`, CONNECT_MS, connect({ port: peer.port, identity: setup.identity, backend, trust: 'any', suites }));
  return { peer, channel };
}

/** Asks the peer for its counts: its answer follows everything sent before, so the transfer is complete. */
export async function report(channel: Channel): Promise<PeerCounts> {
  await watch("send('end')", REPLY_MS, channel.send('end'));
  return JSON.parse((await watch("receive() of the peer's counts", REPLY_MS, channel.receive())).toString()) as PeerCounts;
}

export async function finish(peer: Peer, channel: Channel): Promise<void> {
  await watch('close()', CLOSE_MS, channel.close());
  peer.child.kill();
}

/** netcrypt with one backend on both sides and the suite fixed by offering only it. */
export async function netcryptBulk(setup: BulkSetup, backend: BackendName, suite: SuiteName, size: number): Promise<Bulk> {
  const { peer, channel } = await openChannel(setup, backend, [suite]);
  if (channel.suite !== suite) throw new Error(`asked for ${suite}, negotiated ${channel.suite}`);
  const chunk = randomBytes(CHUNK);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  for (let sent = 0; sent < size; sent += CHUNK) await channel.send(chunk);
  const counts = await report(channel);
  const result = bulkResult(`netcrypt ${backend} ${suite}`, size, performance.now() - t0, cpuMs() - cpu0, counts);
  await finish(peer, channel);
  return result;
}
