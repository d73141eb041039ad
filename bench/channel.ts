/**
 * npm run bench:channel — netcrypt over loopback against its anchors, in one run:
 *
 *   bulk        SIZE (default 1 GiB) client → server per backend, against raw TCP,
 *               node:tls TLS 1.3 (AES-256-GCM) and a bare A256CBC-HS512 framing
 *               loop (seal 64 KiB records, no socket: one core's cap), and the
 *               matching open loop, from which it derives the CPU ceiling;
 *   messages    1 KiB messages per second on one connection (native);
 *   handshakes  per second, sequential and 200 concurrent, RSA-2048, against TLS 1.3,
 *               and TLS 1.3 with a client certificate (mutual authentication, as
 *               netcrypt), each after a warm-up, RUNS times (medians, per-run ratios).
 *
 * The server runs in a child process, so each side has a core. CPU time is
 * reported for both sides. RUNS (default 3) repeats the bulk table and the
 * handshake rows; medians. WARMUP_MS (default 2000) warms up each handshake
 * row; ONLY and BULK_ONLY narrow a run while experimenting.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { loadBackend } from '../src/backend/index.ts';
import type { SecureChannel } from '../src/channel/secure-channel.ts';
import { generateIdentity } from '../src/keys/identity.ts';
import { connect } from '../src/protocol/connect.ts';
import { laneRecordType, RecordOpener, RecordSealer, SUITES, type SuiteName, systemRandom } from '../src/wire/records.ts';
import { machineLine, median, table } from './stats.ts';
import { stalledCalls, watch } from './watchdog.ts';

/** The library's defaults, which the watchdog allows each call (plus its margin). */
const CONNECT_MS = 10_000 + 10_000;
const CLOSE_MS = 5_000;
const REPLY_MS = 120_000;

const SIZE = Number(process.env.SIZE ?? 1 << 30);
const RUNS = Number(process.env.RUNS ?? 3);
const CHUNK = 1 << 20;
const WARMUP_MS = Number(process.env.WARMUP_MS ?? 2000);
const work = mkdtempSync(join(tmpdir(), 'netcrypt-bench-'));
// RSA-2048 certificates for the TLS anchors: the server's, and a client's for mutual authentication.
for (const side of ['server', 'client']) {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(work, `${side}-key.pem`), '-out', join(work, `${side}-cert.pem`), '-days', '1', '-subj', `/CN=${side}`], {
    stdio: 'ignore',
  });
}
const clientCertificate = { key: readFileSync(join(work, 'client-key.pem')), cert: readFileSync(join(work, 'client-cert.pem')) };
const clientIdentity = await generateIdentity({ modulusLength: 2048 });

interface Peer {
  port: number;
  child: ChildProcess;
  /** Sends a stdin command (`mark`, `cpu`) and returns the peer's answer line. */
  ask: (command: string) => Promise<string>;
}

async function startPeer(mode: string, backend = 'native'): Promise<Peer> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./channel-peer.ts', import.meta.url)), mode, backend, work], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ask = async (command: string) => {
    if (command) child.stdin!.write(`${command}\n`);
    return (await lines.next()).value as string;
  };
  const port = Number(await ask(''));
  return { port, child, ask };
}

interface Bulk {
  MBps: number;
  clientCpuMBps: number;
  serverCpuMBps: number;
}

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

/** Streams SIZE bytes over a plain or TLS socket; the peer reports its byte count and CPU time on end. */
async function socketBulk(mode: 'tcp' | 'tls'): Promise<Bulk> {
  const peer = await startPeer(mode);
  const socket: net.Socket =
    mode === 'tcp'
      ? net.connect({ port: peer.port, host: '127.0.0.1', allowHalfOpen: true })
      : tls.connect({ port: peer.port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  await new Promise((resolve) => socket.once(mode === 'tcp' ? 'connect' : 'secureConnect', resolve));
  const chunk = randomBytes(CHUNK);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  for (let sent = 0; sent < SIZE; sent += CHUNK) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  socket.end();
  const reply = await new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => (text += d));
    socket.on('end', () => resolve(text));
  });
  const ms = performance.now() - t0;
  const clientCpu = cpuMs() - cpu0;
  const { bytes, cpuMs: serverCpu } = JSON.parse(reply) as { bytes: number; cpuMs: number };
  if (bytes !== SIZE) throw new Error(`${mode}: peer got ${bytes} of ${SIZE} bytes`);
  peer.child.kill();
  return { MBps: SIZE / 1e3 / ms, clientCpuMBps: SIZE / 1e3 / clientCpu, serverCpuMBps: SIZE / 1e3 / serverCpu };
}

/** `suites` restricts the client; the peer offers both, so the default is the negotiated a256gcm. */
async function openChannel(backend: string, suites?: SuiteName[]): Promise<{ peer: Peer; channel: SecureChannel }> {
  const peer = await startPeer('netcrypt', backend);
  const channel = await watch(`connect() to the ${backend} peer`, CONNECT_MS, connect({ port: peer.port, identity: clientIdentity, backend: backend as 'native', trust: 'any', suites }));
  return { peer, channel };
}

/** Asks the peer for its counts: its answer follows everything sent before, so the transfer is complete. */
async function report(channel: SecureChannel): Promise<{ bytes: number; messages: number; cpuMs: number }> {
  await watch("send('end')", REPLY_MS, channel.send('end'));
  return JSON.parse((await watch('receive() of the peer\'s counts', REPLY_MS, channel.receive())).toString());
}

async function finish(peer: Peer, channel: SecureChannel): Promise<void> {
  await watch('close()', CLOSE_MS, channel.close());
  peer.child.kill();
}

async function netcryptBulk(backend: string, suites?: SuiteName[]): Promise<Bulk> {
  const { peer, channel } = await openChannel(backend, suites);
  const chunk = randomBytes(CHUNK);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  for (let sent = 0; sent < SIZE; sent += CHUNK) await channel.send(chunk);
  const counts = await report(channel);
  const ms = performance.now() - t0;
  const clientCpu = cpuMs() - cpu0;
  await finish(peer, channel);
  if (counts.bytes !== SIZE) throw new Error(`${backend}: peer got ${counts.bytes} of ${SIZE} bytes`);
  return { MBps: SIZE / 1e3 / ms, clientCpuMBps: SIZE / 1e3 / clientCpu, serverCpuMBps: SIZE / 1e3 / counts.cpuMs };
}

/** Seal-and-frame 64 KiB records with no socket: what one core can feed a connection. */
async function bareLoop(): Promise<Bulk> {
  const sealer = new RecordSealer(await loadBackend('native'), SUITES['a256cbc-hs512'], randomBytes(64), systemRandom());
  const record = randomBytes(65536);
  const type = laneRecordType(0, false);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  for (let sent = 0; sent < SIZE; sent += record.length) sealer.seal(type, record);
  const ms = performance.now() - t0;
  return { MBps: SIZE / 1e3 / ms, clientCpuMBps: SIZE / 1e3 / (cpuMs() - cpu0), serverCpuMBps: Number.NaN };
}

/** Open 64 KiB records with no socket: the receiver's unavoidable cryptographic work. */
async function bareOpenLoop(): Promise<Bulk> {
  const backend = await loadBackend('native');
  const key = randomBytes(64);
  const type = laneRecordType(0, false);
  const sealer = new RecordSealer(backend, SUITES['a256cbc-hs512'], key, systemRandom());
  // A window of records sealed in advance, opened again and again by fresh openers (each starts at sequence 0).
  const window = Array.from({ length: 16 }, () => Buffer.concat(sealer.seal(type, randomBytes(65536))).subarray(4));
  const cpu0 = cpuMs();
  const t0 = performance.now();
  for (let opened = 0; opened < SIZE; ) {
    const opener = new RecordOpener(backend, SUITES['a256cbc-hs512'], key, false);
    for (const record of window) opened += opener.open(record).plaintext.length;
  }
  const ms = performance.now() - t0;
  return { MBps: SIZE / 1e3 / ms, clientCpuMBps: SIZE / 1e3 / (cpuMs() - cpu0), serverCpuMBps: Number.NaN };
}

async function messagesPerSecond(seconds: number): Promise<{ perSecond: number; clientCpuMs: number; serverCpuMs: number }> {
  const { peer, channel } = await openChannel('native');
  const message = randomBytes(1024);
  let sent = 0;
  const cpu0 = cpuMs();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < 256; i++) batch.push(channel.send(message));
    await Promise.all(batch);
    sent += 256;
  }
  const counts = await report(channel);
  const ms = performance.now() - t0;
  const clientCpuMs = cpuMs() - cpu0;
  await finish(peer, channel);
  if (counts.messages !== sent) throw new Error(`sent ${sent}, peer got ${counts.messages}`);
  return { perSecond: sent / (ms / 1000), clientCpuMs: clientCpuMs / (ms / 1000), serverCpuMs: counts.cpuMs / (ms / 1000) };
}

interface Handshakes {
  /** Completed handshakes per second. */
  perSecond: number;
  clientCpuUs: number;
  serverCpuUs: number;
  failed: number;
}

type HandshakeKind = 'netcrypt' | 'tls' | 'mtls';
const HANDSHAKE_KINDS: HandshakeKind[] = ['netcrypt', 'tls', 'mtls'];

/**
 * Handshakes per second at a given concurrency, after WARMUP_MS of
 * handshakes at the same concurrency: netcrypt's handshake is JavaScript
 * around OpenSSL, TLS's mostly C++, so a cold run would time V8's JIT
 * rather than the protocol.
 */
async function handshakesPerSecond(kind: HandshakeKind, total: number, concurrency: number): Promise<Handshakes> {
  const peer = await startPeer(kind);
  // One context for all connections, as a real client keeps: one per connection would cost TLS an OpenSSL
  // context (and, with a client certificate, a PEM parse) per handshake.
  const secureContext = tls.createSecureContext({ minVersion: 'TLSv1.3', ...(kind === 'mtls' ? clientCertificate : {}) });
  // A failed handshake is counted and reported, not fatal: one lost run of thousands would waste the whole bench.
  let failed = 0;
  const once = async () => {
    try {
      if (kind === 'netcrypt') {
        const channel = await watch(`${kind} handshake: connect()`, CONNECT_MS, connect({ port: peer.port, identity: clientIdentity, backend: 'native', trust: 'any' }));
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
  for (const warmupStart = performance.now(); performance.now() - warmupStart < WARMUP_MS; ) await run(Math.max(50, concurrency));
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

console.log(`bench:channel — ${SIZE >> 20} MiB per bulk run, ${RUNS} runs (medians); ${machineLine()}`);
const allSubjects: [string, () => Promise<Bulk>][] = [
  ['raw TCP', () => socketBulk('tcp')],
  ['TLS 1.3 (AES-256-GCM)', () => socketBulk('tls')],
  ['bare A256CBC-HS512 framing loop', bareLoop],
  ['bare A256CBC-HS512 open loop', bareOpenLoop],
  ['netcrypt native', () => netcryptBulk('native')],
  ['netcrypt native a256cbc-hs512', () => netcryptBulk('native', ['a256cbc-hs512'])],
  ['netcrypt wasm', () => netcryptBulk('wasm')],
  ['netcrypt pure', () => netcryptBulk('pure')],
];
// ONLY=native,tcp narrows the bulk table while experimenting; the ratios then print only where both sides ran.
const only = process.env.ONLY?.split(',');
const subjects = allSubjects.filter(([name]) => !only || only.some((o) => name.includes(o)));
const results = new Map<string, Bulk[]>();
for (let run = 0; run < RUNS; run++) {
  for (const [name, measure] of subjects) {
    process.stderr.write(`  run ${run + 1}/${RUNS}: ${name}…\n`);
    const list = results.get(name) ?? [];
    list.push(await measure());
    results.set(name, list);
  }
}
const bulkMedian = (name: string, key: keyof Bulk) => median(results.get(name)!.map((r) => r[key]));
console.log(
  `\nbulk transfer (MB/s; cpu columns = MB per CPU-second of that side)\n${table(
    ['subject', 'MB/s', 'client cpu', 'server cpu', 'runs (MB/s)'],
    subjects.map(([name]) => [
      name,
      bulkMedian(name, 'MBps'),
      bulkMedian(name, 'clientCpuMBps'),
      bulkMedian(name, 'serverCpuMBps'),
      results.get(name)!.map((r) => r.MBps.toFixed(0)).join(' '),
    ]),
  )}`,
);
const ratio = (a: string, b: string) =>
  results.has(a) && results.has(b) ? median(results.get(a)!.map((r, i) => r.MBps / results.get(b)![i]!.MBps)).toFixed(2) : '-';
console.log(`native / bare loop (same run, per-run ratio median): ${ratio('netcrypt native', 'bare A256CBC-HS512 framing loop')}  (target ≥ 0.95)`);
// Any sealed transfer between two processes on this machine must at least seal, open, send and receive:
// the CPU those cost per MB, measured above, bounds what two cores can carry.
if (['raw TCP', 'bare A256CBC-HS512 framing loop', 'bare A256CBC-HS512 open loop'].every((name) => results.has(name))) {
  const cpuSecondsPerMB =
    1 / bulkMedian('bare A256CBC-HS512 framing loop', 'clientCpuMBps') +
    1 / bulkMedian('bare A256CBC-HS512 open loop', 'clientCpuMBps') +
    1 / bulkMedian('raw TCP', 'clientCpuMBps') +
    1 / bulkMedian('raw TCP', 'serverCpuMBps');
  const cores = os.cpus().length;
  console.log(
    `CPU ceiling for a sealed transfer on ${cores} cores: ${(cores / cpuSecondsPerMB).toFixed(0)} MB/s ` +
      `(seal + open + TCP send + receive = ${(cpuSecondsPerMB * 1000).toFixed(2)} ms CPU per MB)`,
  );
}
console.log(`native / TLS 1.3: ${ratio('netcrypt native', 'TLS 1.3 (AES-256-GCM)')}   wasm / pure: ${ratio('netcrypt wasm', 'netcrypt pure')}`);

if (process.env.BULK_ONLY) process.exit(0);
const messages = await messagesPerSecond(3);
console.log(
  `\n1 KiB messages on one connection (native): ${messages.perSecond.toFixed(0)}/s  (target ≥ 100000; Python original: 55/s);` +
    ` CPU busy: client ${(messages.clientCpuMs / 10).toFixed(0)}%, server ${(messages.serverCpuMs / 10).toFixed(0)}%`,
);

const handshakeRows: [string, number, number][] = [
  ['sequential', 1, 1000],
  ['200 concurrent', 200, 3000],
];
const rows: (string | number)[][] = [];
for (const [label, concurrency, total] of handshakeRows) {
  const runs: Record<HandshakeKind, Handshakes>[] = [];
  for (let run = 0; run < RUNS; run++) {
    process.stderr.write(`  run ${run + 1}/${RUNS}: handshakes, ${label}…\n`);
    const results = {} as Record<HandshakeKind, Handshakes>;
    for (const kind of HANDSHAKE_KINDS) results[kind] = await handshakesPerSecond(kind, total, concurrency);
    runs.push(results);
  }
  const m = (kind: HandshakeKind, key: keyof Handshakes) => median(runs.map((r) => r[kind][key]));
  const cpu = (kind: HandshakeKind) => `${m(kind, 'clientCpuUs').toFixed(0)} / ${m(kind, 'serverCpuUs').toFixed(0)}`;
  const netcryptOver = (kind: HandshakeKind) => median(runs.map((r) => r.netcrypt.perSecond / r[kind].perSecond));
  const failed = HANDSHAKE_KINDS.map((kind) => runs.reduce((sum, r) => sum + r[kind].failed, 0)).join(' / ');
  rows.push([label, m('netcrypt', 'perSecond'), m('tls', 'perSecond'), m('mtls', 'perSecond'), netcryptOver('tls'), netcryptOver('mtls'), cpu('netcrypt'), cpu('tls'), cpu('mtls'), failed]);
}
console.log(
  `\nhandshakes per second, RSA-2048, after ${WARMUP_MS} ms of warm-up each (ratios: per-run medians; CPU: µs per handshake, client / server)\n` +
    `TLS 1.3 authenticates only the server; mTLS adds a client certificate, which is what netcrypt always does (each side proves its key)\n${table(
      ['', 'netcrypt', 'TLS 1.3', 'mTLS 1.3', 'vs TLS', 'vs mTLS', 'netcrypt CPU', 'TLS CPU', 'mTLS CPU', 'failed (all runs)'],
      rows,
    )}`,
);
if (stalledCalls().length > 0) {
  console.log(`\nwatchdog: ${stalledCalls().length} calls did not settle in time: ${[...new Set(stalledCalls())].join('; ')}`);
  process.exitCode = 1;
}
rmSync(work, { recursive: true, force: true });
