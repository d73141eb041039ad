/**
 * bench:channel's handshake rows: handshakes per second, sequential and
 * concurrent, RSA-2048, netcrypt against TLS 1.3 and TLS 1.3 with a client
 * certificate (mutual authentication, as netcrypt always does).
 */

import tls from 'node:tls';
import type { Identity } from '../src/keys/identity.ts';
import { connect } from '../src/protocol/connect.ts';
import { CONNECT_MS } from './channel-bulk.ts';
import { cpuMs, startPeer } from './peer.ts';
import { watch } from './watchdog.ts';

export interface Handshakes {
  /** Completed handshakes per second. */
  perSecond: number;
  /** CPU per handshake, each side, in microseconds. */
  clientCpuUs: number;
  serverCpuUs: number;
  failed: number;
}

export type HandshakeKind = 'netcrypt' | 'tls' | 'mtls';
export const HANDSHAKE_KINDS: HandshakeKind[] = ['netcrypt', 'tls', 'mtls'];

export interface HandshakeSetup {
  work: string;
  identity: Identity;
  clientCertificate: { key: Buffer; cert: Buffer };
  warmupMs: number;
}

/**
 * Handshakes per second at a given concurrency, after `warmupMs` of
 * handshakes at the same concurrency: netcrypt's handshake is JavaScript
 * around OpenSSL, TLS's mostly C++, so a cold run would time V8's JIT
 * rather than the protocol.
 */
export async function handshakesPerSecond(setup: HandshakeSetup, kind: HandshakeKind, total: number, concurrency: number): Promise<Handshakes> {
  const peer = await startPeer(setup.work, kind);
  // One context for all connections, as a real client keeps: one per connection would cost TLS an OpenSSL
  // context (and, with a client certificate, a PEM parse) per handshake.
  const secureContext = tls.createSecureContext({ minVersion: 'TLSv1.3', ...(kind === 'mtls' ? setup.clientCertificate : {}) });
  // A failed handshake is counted and reported, not fatal: one lost run of thousands would waste the whole bench.
  let failed = 0;
  const once = async () => {
    try {
      if (kind === 'netcrypt') {
        const channel = await watch(`${kind} handshake: connect()`, CONNECT_MS, connect({ port: peer.port, identity: setup.identity, backend: 'native', trust: 'any' }));
        channel.destroy();
      } else {
        const socket = tls.connect({ port: peer.port, host: '127.0.0.1', rejectUnauthorized: false, secureContext });
        await watch(`${kind} handshake`, CONNECT_MS, new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject)));
        socket.destroy();
      }
    } catch (error) {
      failed++;
      process.stderr.write(`  ${kind} handshake failed: ${(error as Error).message}\n`);
    }
  };
  const run = async (count: number) => {
    let started = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started++ < count) await once();
      }),
    );
  };
  for (const warmupStart = performance.now(); performance.now() - warmupStart < setup.warmupMs; ) await run(Math.max(50, concurrency));
  await peer.ask('mark');
  failed = 0;
  const cpu0 = cpuMs();
  const t0 = performance.now();
  await run(total);
  const ms = performance.now() - t0;
  const clientCpu = cpuMs() - cpu0;
  const serverCpu = Number(await peer.ask('cpu'));
  peer.child.kill();
  const completed = total - failed;
  return { perSecond: completed / (ms / 1000), clientCpuUs: (clientCpu * 1000) / total, serverCpuUs: (serverCpu * 1000) / total, failed };
}
