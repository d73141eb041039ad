/**
 * npm run bench:channel — netcrypt over loopback against its anchors, in one run:
 *
 *   bulk        SIZE (default 1 GiB) client → server for each backend × suite,
 *               against raw TCP, node:tls TLS 1.3 (AES-256-GCM),
 *               @hyperswarm/secret-stream and the bare framing loop of each
 *               suite (bench/bare-records.ts: node:crypto, 64 KiB records, no
 *               library), every row between two processes;
 *   cpu         each side's CPU per MB for every bulk row, beside that side's
 *               bare cipher loop (bench/cipher-loops.ts: the backend's seal or
 *               open alone) plus raw TCP's send or receive;
 *   messages    1 KiB messages per second on one connection (native);
 *   requests    1 KiB requests with 1 KiB replies per second, 64 in flight on
 *               one connection, against HTTPS (bench/channel-requests.ts);
 *   handshakes  per second, sequential and 200 concurrent, RSA-2048, against TLS 1.3,
 *               and TLS 1.3 with a client certificate (mutual authentication, as
 *               netcrypt), each after a warm-up.
 *
 * Each peer runs in a child process, so each side has a core. RUNS (default
 * 3) repeats the bulk, cpu, request and handshake rows; tables show medians,
 * ratios are taken within each run and then their median. Knobs for a short
 * run: SIZE, PURE_SIZE (default SIZE / 4: the pure rows are slow), RUNS,
 * WARMUP_MS (2000), WARMUP_HANDSHAKES (4000: the handshake rows' warm-up runs
 * at least that many, and at least WARMUP_MS), BARE_MS (1000, per cipher loop), MESSAGES_MS (3000),
 * REQUESTS_MS (3000), HANDSHAKES (1000 sequential; 3× that concurrent),
 * BARE_RECORD (65536). ONLY=tcp,native narrows the bulk rows; BULK_ONLY=1
 * stops after them; SECTIONS=messages,handshakes runs only those sections
 * (bulk, messages, requests, handshakes; default all). Results go to bench/results/channel.json (RESULTS= another folder).
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { BackendName } from '../src/backend/types.ts';
import { generateIdentity } from '../src/keys/identity.ts';
import { SUITE_PREFERENCE, type SuiteName } from '../src/wire/records.ts';
import { BARE_RECORD_BYTES } from './bare-records.ts';
import { type Bulk, type BulkSetup, bareBulk, finish, netcryptBulk, openChannel, report, secretStreamBulk, socketBulk } from './channel-bulk.ts';
import { HANDSHAKE_KINDS, type HandshakeKind, type Handshakes, handshakesPerSecond } from './channel-handshakes.ts';
import { IN_FLIGHT, type Requests, httpsRequests, netcryptRequests } from './channel-requests.ts';
import type { CipherLoop } from './cipher-loops.ts';
import { cpuMs, prepareWork } from './peer.ts';
import { machine, saveResults } from './results.ts';
import { machineLine, median, table } from './stats.ts';
import { stalledCalls } from './watchdog.ts';

const SIZE = Number(process.env.SIZE ?? 1 << 30);
const PURE_SIZE = Number(process.env.PURE_SIZE ?? Math.max(1 << 20, Math.floor(SIZE / 4 / (1 << 20)) * (1 << 20)));
const RUNS = Number(process.env.RUNS ?? 3);
const WARMUP_MS = Number(process.env.WARMUP_MS ?? 2000);
const BARE_MS = Number(process.env.BARE_MS ?? 1000);
const MESSAGES_MS = Number(process.env.MESSAGES_MS ?? 3000);
const REQUESTS_MS = Number(process.env.REQUESTS_MS ?? 3000);
const HANDSHAKES = Number(process.env.HANDSHAKES ?? 1000);
const WARMUP_HANDSHAKES = Number(process.env.WARMUP_HANDSHAKES ?? 4000);
const SECTIONS = new Set((process.env.SECTIONS ?? (process.env.BULK_ONLY ? 'bulk' : 'bulk,messages,requests,handshakes')).split(','));
const settings = { SIZE, PURE_SIZE, RUNS, WARMUP_MS, BARE_MS, MESSAGES_MS, REQUESTS_MS, HANDSHAKES, WARMUP_HANDSHAKES, BARE_RECORD: BARE_RECORD_BYTES, ONLY: process.env.ONLY ?? null, SECTIONS: [...SECTIONS] };
/** What a native channel negotiates when nothing is restricted. */
const DEFAULT_SUITE = SUITE_PREFERENCE[0]!;
const SUITES: SuiteName[] = ['a256gcm', 'a256cbc-hs512'];
const BACKENDS: BackendName[] = ['native', 'wasm', 'pure'];
const TLS = 'TLS 1.3 (AES-256-GCM)';
const SECRET_STREAM = 'secret-stream (XChaCha20-Poly1305)';
const TCP = 'raw TCP';
const bareName = (suite: SuiteName) => `bare ${suite} framing loop`;
const netcryptName = (backend: BackendName, suite: SuiteName) => `netcrypt ${backend} ${suite}`;

const started = machine();
const { work, clientCertificate } = prepareWork();
const identity = await generateIdentity({ modulusLength: 2048 });
const setup: BulkSetup = { work, identity };
const saved: Record<string, unknown> = {};
const save = (section: string, value: unknown) => {
  saved[section] = value;
  saveResults('channel', started, settings, saved);
};

interface Subject {
  name: string;
  kind: 'anchor' | 'netcrypt';
  backend?: BackendName;
  suite?: SuiteName;
  bytes: number;
  /** The bare cipher loops (backend, suite) its CPU is held to; none for raw TCP and secret-stream. */
  baseline?: { backend: BackendName; suite: SuiteName };
  measure: () => Promise<Bulk>;
}

const allSubjects: Subject[] = [
  { name: TCP, kind: 'anchor', bytes: SIZE, measure: () => socketBulk(setup, 'tcp', SIZE) },
  { name: TLS, kind: 'anchor', bytes: SIZE, baseline: { backend: 'native', suite: 'a256gcm' }, measure: () => socketBulk(setup, 'tls', SIZE) },
  { name: SECRET_STREAM, kind: 'anchor', bytes: SIZE, measure: () => secretStreamBulk(setup, SIZE) },
  ...SUITES.map((suite): Subject => ({ name: bareName(suite), kind: 'anchor', suite, bytes: SIZE, baseline: { backend: 'native', suite }, measure: () => bareBulk(setup, suite, SIZE) })),
  ...BACKENDS.flatMap((backend) =>
    SUITES.map((suite): Subject => {
      const bytes = backend === 'pure' ? PURE_SIZE : SIZE;
      return { name: netcryptName(backend, suite), kind: 'netcrypt', backend, suite, bytes, baseline: { backend, suite }, measure: () => netcryptBulk(setup, backend, suite, bytes) };
    }),
  ),
];
const only = process.env.ONLY?.split(',');
const subjects = SECTIONS.has('bulk') ? allSubjects.filter(({ name }) => !only || only.some((o) => name.includes(o))) : [];

function cipherLoops(): CipherLoop[] {
  const script = fileURLToPath(new URL('./cipher-loops.ts', import.meta.url));
  const out = execFileSync(process.execPath, ['--import', 'tsx', script, String(BARE_RECORD_BYTES), String(BARE_MS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out) as CipherLoop[];
}

console.log(`bench:channel — ${SIZE >> 20} MiB per bulk run (pure: ${PURE_SIZE >> 20} MiB), ${RUNS} runs (medians); ${machineLine()}`);
const fixed = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(2));

if (SECTIONS.has('bulk')) await bulkRows();

if (SECTIONS.has('messages')) {
  const messages = await messagesPerSecond(MESSAGES_MS);
  console.log(
    `\n1 KiB messages on one connection (native): ${messages.perSecond.toFixed(0)}/s  (target ≥ 200000 on a quiet machine; Python original: 55/s);` +
      ` CPU busy: client ${(messages.clientCpuShare * 100).toFixed(0)}%, server ${(messages.serverCpuShare * 100).toFixed(0)}%`,
  );
  save('messages', messages);
}
if (SECTIONS.has('requests')) await requestRows();
if (SECTIONS.has('handshakes')) await handshakeRows();
if (stalledCalls().length > 0) {
  console.log(`\nwatchdog: ${stalledCalls().length} calls did not settle in time: ${[...new Set(stalledCalls())].join('; ')}`);
  process.exitCode = 1;
}
rmSync(work, { recursive: true, force: true });

async function messagesPerSecond(ms: number): Promise<{ perSecond: number; clientCpuShare: number; serverCpuShare: number }> {
  const { peer, channel } = await openChannel(setup, 'native');
  const message = randomBytes(1024);
  let sent = 0;
  const cpu0 = cpuMs();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < 256; i++) batch.push(channel.send(message));
    await Promise.all(batch);
    sent += 256;
  }
  const counts = await report(channel);
  const elapsed = performance.now() - t0;
  const clientCpu = cpuMs() - cpu0;
  await finish(peer, channel);
  if (counts.messages !== sent) throw new Error(`sent ${sent}, peer got ${counts.messages}`);
  return { perSecond: sent / (elapsed / 1000), clientCpuShare: clientCpu / elapsed, serverCpuShare: counts.cpuMs / elapsed };
}

async function requestRows(): Promise<void> {
  const runs: { netcrypt: Requests; https: Requests }[] = [];
  for (let run = 0; run < RUNS; run++) {
    process.stderr.write(`  run ${run + 1}/${RUNS}: requests…\n`);
    runs.push({ netcrypt: await netcryptRequests(work, identity, WARMUP_MS, REQUESTS_MS), https: await httpsRequests(work, WARMUP_MS, REQUESTS_MS) });
  }
  const m = (side: 'netcrypt' | 'https', key: keyof Requests) => median(runs.map((r) => r[side][key]));
  const overHttps = median(runs.map((r) => r.netcrypt.perSecond / r.https.perSecond));
  const row = (label: string, side: 'netcrypt' | 'https') => [label, m(side, 'perSecond'), m(side, 'clientCpuUs'), m(side, 'serverCpuUs'), runs.map((r) => r[side].connections).join(' ')];
  console.log(
    `\nrequests per second: 1 KiB request, 1 KiB reply, one connection, ${IN_FLIGHT} in flight (CPU: µs per request)\n` +
      `HTTPS: node:https (TLS 1.3) and an undici Client, one keep-alive connection, HTTP/1.1 pipelining ${IN_FLIGHT} deep\n${table(
        ['', 'requests/s', 'client CPU', 'server CPU', 'connections (per run)'],
        [row('netcrypt native (channel.request)', 'netcrypt'), row('HTTPS (undici → node:https)', 'https')],
      )}\nnetcrypt / HTTPS: ${fixed(overHttps)}  (target ≥ 1)`,
  );
  save('requests', { inFlight: IN_FLIGHT, requestBytes: 1024, replyBytes: 1024, runs, overHttps });
}

async function handshakeRows(): Promise<void> {
  const handshakeSetup = { work, identity, clientCertificate, warmupMs: WARMUP_MS, warmupHandshakes: WARMUP_HANDSHAKES };
  const rows: (string | number)[][] = [];
  const saved: unknown[] = [];
  for (const [label, concurrency, total] of [
    ['sequential', 1, HANDSHAKES],
    ['200 concurrent', 200, 3 * HANDSHAKES],
  ] as const) {
    const runs: Record<HandshakeKind, Handshakes>[] = [];
    for (let run = 0; run < RUNS; run++) {
      process.stderr.write(`  run ${run + 1}/${RUNS}: handshakes, ${label}…\n`);
      const results = {} as Record<HandshakeKind, Handshakes>;
      for (const kind of HANDSHAKE_KINDS) results[kind] = await handshakesPerSecond(handshakeSetup, kind, total, concurrency);
      runs.push(results);
    }
    const m = (kind: HandshakeKind, key: keyof Handshakes) => median(runs.map((r) => r[kind][key]));
    const cpu = (kind: HandshakeKind) => `${m(kind, 'clientCpuUs').toFixed(0)} / ${m(kind, 'serverCpuUs').toFixed(0)}`;
    const netcryptOver = (kind: HandshakeKind) => median(runs.map((r) => r.netcrypt.perSecond / r[kind].perSecond));
    const failed = HANDSHAKE_KINDS.map((kind) => runs.reduce((sum, r) => sum + r[kind].failed, 0)).join(' / ');
    rows.push([label, m('netcrypt', 'perSecond'), m('tls', 'perSecond'), m('mtls', 'perSecond'), netcryptOver('tls'), netcryptOver('mtls'), cpu('netcrypt'), cpu('tls'), cpu('mtls'), failed]);
    saved.push({ label, concurrency, total, runs, overTls: netcryptOver('tls'), overMtls: netcryptOver('mtls') });
  }
  console.log(
    `\nhandshakes per second, RSA-2048, after a warm-up of ${WARMUP_HANDSHAKES} handshakes and ${WARMUP_MS} ms at least, each (ratios: per-run medians; CPU: µs per handshake, client / server)\n` +
      `TLS 1.3 authenticates only the server; mTLS adds a client certificate, which is what netcrypt always does (each side proves its key)\n${table(
        ['', 'netcrypt', 'TLS 1.3', 'mTLS 1.3', 'vs TLS', 'vs mTLS', 'netcrypt CPU', 'TLS CPU', 'mTLS CPU', 'failed (all runs)'],
        rows,
      )}`,
  );
  save('handshakes', saved);
}


/** The bulk rows, the bare cipher loops and the CPU table against them. */
async function bulkRows(): Promise<void> {
  const bulkRuns = new Map<string, Bulk[]>();
  const loopRuns: CipherLoop[][] = [];
  for (let run = 0; run < RUNS; run++) {
    process.stderr.write(`  run ${run + 1}/${RUNS}: bare cipher loops…\n`);
    loopRuns.push(cipherLoops());
    for (const subject of subjects) {
      process.stderr.write(`  run ${run + 1}/${RUNS}: ${subject.name}…\n`);
      const list = bulkRuns.get(subject.name) ?? [];
      list.push(await subject.measure());
      bulkRuns.set(subject.name, list);
    }
  }

  const has = (name: string) => bulkRuns.has(name);
  const bulkMedian = (name: string, key: keyof Bulk) => median(bulkRuns.get(name)!.map((r) => r[key]));
  /** Per-run ratio of two rows' throughput, median over the runs; undefined unless both ran. */
  const throughputRatio = (a: string, b: string) => (has(a) && has(b) ? median(bulkRuns.get(a)!.map((r, i) => r.MBps / bulkRuns.get(b)![i]!.MBps)) : undefined);
  const loop = (run: number, backend: BackendName, suite: SuiteName, op: 'seal' | 'open') =>
    loopRuns[run]!.find((l) => l.backend === backend && l.suite === suite && l.op === op)!.cpuMsPerMB;

  console.log(
    `\nbulk transfer (MB/s by wall clock; cpu = ms of CPU per MB on that side)\n${table(
      ['subject', 'MB/s', '× TLS', 'client cpu', 'server cpu', 'runs (MB/s)'],
      subjects.map(({ name }) => [
        name,
        bulkMedian(name, 'MBps'),
        fixed(throughputRatio(name, TLS)),
        bulkMedian(name, 'clientCpuMsPerMB'),
        bulkMedian(name, 'serverCpuMsPerMB'),
        bulkRuns.get(name)!.map((r) => r.MBps.toFixed(0)).join(' '),
      ]),
    )}`,
  );

  const loopMedian = (backend: BackendName, suite: SuiteName, op: 'seal' | 'open', key: 'cpuMsPerMB' | 'MBps') =>
    median(loopRuns.map((run) => run.find((l) => l.backend === backend && l.suite === suite && l.op === op)![key]));
  console.log(
    `\nbare cipher loops (${BARE_RECORD_BYTES >> 10} KiB records, the backend's seal or open alone, one core, no socket)\n${table(
      ['backend', 'suite', 'seal ms/MB', 'open ms/MB', 'seal MB/s', 'open MB/s'],
      BACKENDS.flatMap((backend) =>
        SUITES.map((suite) => [backend, suite, loopMedian(backend, suite, 'seal', 'cpuMsPerMB'), loopMedian(backend, suite, 'open', 'cpuMsPerMB'), loopMedian(backend, suite, 'seal', 'MBps'), loopMedian(backend, suite, 'open', 'MBps')]),
      ),
    )}`,
  );

  /**
   * A side's CPU per MB over what it cannot avoid: the bare cipher loop of
   * its backend and suite plus raw TCP's own send (client) or receive (server).
   */
  function cpuOverBare(subject: Subject, side: 'client' | 'server'): { bare: number; ratio: number } | undefined {
    if (!subject.baseline || !has(TCP)) return undefined;
    const { backend, suite } = subject.baseline;
    const key = side === 'client' ? 'clientCpuMsPerMB' : 'serverCpuMsPerMB';
    const bare = (run: number) => loop(run, backend, suite, side === 'client' ? 'seal' : 'open') + bulkRuns.get(TCP)![run]![key];
    const runs = bulkRuns.get(subject.name)!;
    return { bare: median(runs.map((_, i) => bare(i))), ratio: median(runs.map((r, i) => r[key] / bare(i))) };
  }
  const cpuRows = subjects.map((subject) => {
    const client = cpuOverBare(subject, 'client');
    const server = cpuOverBare(subject, 'server');
    return {
      subject: subject.name,
      clientCpuMsPerMB: bulkMedian(subject.name, 'clientCpuMsPerMB'),
      clientBareMsPerMB: client?.bare,
      clientRatio: client?.ratio,
      serverCpuMsPerMB: bulkMedian(subject.name, 'serverCpuMsPerMB'),
      serverBareMsPerMB: server?.bare,
      serverRatio: server?.ratio,
    };
  });
  console.log(
    `\nCPU per MB on the bulk path (ms) against the bare loops: sender = seal loop + raw TCP send, receiver = open loop + raw TCP receive\n` +
      `(that row's backend and suite; node:crypto's for TLS and the bare framing loops; target for netcrypt native: ratio ≤ 1.3)\n${table(
        ['subject', 'sender', 'bare sender', 'ratio', 'receiver', 'bare receiver', 'ratio'],
        cpuRows.map((r) => [r.subject, r.clientCpuMsPerMB, fixed(r.clientBareMsPerMB), fixed(r.clientRatio), r.serverCpuMsPerMB, fixed(r.serverBareMsPerMB), fixed(r.serverRatio)]),
      )}`,
  );

  const nativeDefault = netcryptName('native', DEFAULT_SUITE);
  const ratios = {
    nativeOverBareGcm: throughputRatio(nativeDefault, bareName('a256gcm')),
    nativeCbcOverBareCbc: throughputRatio(netcryptName('native', 'a256cbc-hs512'), bareName('a256cbc-hs512')),
    nativeOverTls: throughputRatio(nativeDefault, TLS),
    nativeOverSecretStream: throughputRatio(nativeDefault, SECRET_STREAM),
    bareGcmOverTls: throughputRatio(bareName('a256gcm'), TLS),
    secretStreamOverTls: throughputRatio(SECRET_STREAM, TLS),
    wasmOverPure: Object.fromEntries(SUITES.map((suite) => [suite, throughputRatio(netcryptName('wasm', suite), netcryptName('pure', suite))])),
  };
  console.log(`\nnative ${DEFAULT_SUITE} (the default) / bare a256gcm framing loop: ${fixed(ratios.nativeOverBareGcm)}  (target ≥ 0.95)`);
  console.log(`native a256cbc-hs512 / bare a256cbc-hs512 framing loop: ${fixed(ratios.nativeCbcOverBareCbc)}`);
  console.log(`native ${DEFAULT_SUITE} / TLS 1.3: ${fixed(ratios.nativeOverTls)}  (target ≥ 0.80)   / secret-stream: ${fixed(ratios.nativeOverSecretStream)}  (target > 1)`);
  console.log(`bare a256gcm framing loop / TLS 1.3: ${fixed(ratios.bareGcmOverTls)}   secret-stream / TLS 1.3: ${fixed(ratios.secretStreamOverTls)}`);
  console.log(`wasm / pure: ${SUITES.map((suite) => `${suite} ${fixed(ratios.wasmOverPure[suite])}`).join(', ')}  (target ≥ 2)`);
  // Any sealed transfer between two processes must at least seal, open, send and receive:
  // the CPU those cost per MB bounds what the machine's cores can carry.
  let ceiling: { suite: SuiteName; cpuMsPerMB: number; MBps: number } | undefined;
  if (has(TCP)) {
    const cpuMsPerMB =
      loopMedian('native', DEFAULT_SUITE, 'seal', 'cpuMsPerMB') + loopMedian('native', DEFAULT_SUITE, 'open', 'cpuMsPerMB') + bulkMedian(TCP, 'clientCpuMsPerMB') + bulkMedian(TCP, 'serverCpuMsPerMB');
    const cores = os.cpus().length;
    ceiling = { suite: DEFAULT_SUITE, cpuMsPerMB, MBps: (cores * 1000) / cpuMsPerMB };
    console.log(`CPU ceiling for a sealed ${DEFAULT_SUITE} transfer on ${cores} cores: ${ceiling.MBps.toFixed(0)} MB/s (native seal + open + TCP send + receive = ${cpuMsPerMB.toFixed(2)} ms CPU per MB)`);
  }
  save('bulk', {
    rows: subjects.map(({ name, kind, backend, suite, bytes }) => ({
      subject: name,
      kind,
      backend: backend ?? null,
      suite: suite ?? null,
      bytes,
      runs: bulkRuns.get(name),
      median: { MBps: bulkMedian(name, 'MBps'), clientCpuMsPerMB: bulkMedian(name, 'clientCpuMsPerMB'), serverCpuMsPerMB: bulkMedian(name, 'serverCpuMsPerMB') },
      overTls: throughputRatio(name, TLS) ?? null,
    })),
    cipherLoops: loopRuns,
    cpu: cpuRows,
    ratios,
    ceiling: ceiling ?? null,
    defaultSuite: DEFAULT_SUITE,
  });
}
