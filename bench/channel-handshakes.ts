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
  /** The warm-up runs at least this many handshakes, however long they take. */
  warmupHandshakes: number;
}

/**
 * Handshakes per second at a given concurrency, after a warm-up at the same
 * concurrency of at least `warmupMs` and at least `warmupHandshakes`
 * handshakes: netcrypt's handshake is JavaScript around OpenSSL, TLS's
 * mostly C++, so a cold run would time V8's JIT rather than the protocol.
 * V8 optimises a function once it has run enough, so how warm a process is
 * depends on how many handshakes it has done, not for how long: a warm-up by
 * time alone ran ~400 on a loaded machine, after which netcrypt's CPU per
 * handshake still fell by half over the next ~4000 (TLS's stayed flat), and
 * the row measured the machine's load rather than the protocol.
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
  const warmupBatch = Math.max(50, concurrency);
  const warmupStart = performance.now();
  for (let warmed = 0; warmed < setup.warmupHandshakes || performance.now() - warmupStart < setup.warmupMs; warmed += warmupBatch) await run(warmupBatch);
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
