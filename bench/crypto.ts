/**
 * npm run bench:crypto — seal/open throughput of the three backends for
 * each record suite (A256CBC-HS512, AES-256-GCM), against raw node:crypto
 * and raw @noble compositions of the same suite.
 *
 * Each of RUNS fresh processes measures every subject; tables show medians
 * across processes, MB/s by wall clock and by CPU time. Ratios are computed
 * inside each process (same moment, same noise), by wall clock and by CPU
 * time, and then their median taken.
 *
 *   RUNS=7 MS=500 npm run bench:crypto
 *
 * Results also go to bench/results/crypto.json (RESULTS= another folder).
 */

import type { Suite } from './crypto-worker.ts';
import { machine, saveResults } from './results.ts';
import { machineLine, median, runWorkers, spreadPercent, table } from './stats.ts';

interface Result {
  suite: Suite;
  subject: string;
  size: number;
  op: 'seal' | 'open';
  wallMBps: number;
  cpuMBps: number;
}

const runs = Number(process.env.RUNS ?? 5);
const ms = Number(process.env.MS ?? 300);
const sizes = [1024, 65536, 1048576];
const sizeLabel = (n: number) => (n >= 1 << 20 ? `${n >> 20} MiB` : `${n >> 10} KiB`);

const started = machine();
console.log(`bench:crypto — ${runs} processes × ${ms} ms per case; ${machineLine()}`);
const perRun = runWorkers<Result[]>(new URL('./crypto-worker.ts', import.meta.url), runs, [sizes.join(','), String(ms)]);

const pick = (run: Result[], suite: Suite, subject: string, size: number, op: string) =>
  run.find((r) => r.suite === suite && r.subject === subject && r.size === size && r.op === op)!;

const suiteTitles: Record<Suite, string> = { 'a256cbc-hs512': 'A256CBC-HS512', a256gcm: 'AES-256-GCM' };
const targets: Record<Suite, [string, string, string, string][]> = {
  'a256cbc-hs512': [
    ['wasm / pure', 'wasm', 'pure', 'target ≥ 2.00'],
    ['pure / raw @noble', 'pure', 'raw @noble', 'target ≥ 0.90'],
    ['native / raw node:crypto', 'native', 'raw node:crypto', 'target ≥ 0.95'],
    ['wasm / native', 'wasm', 'native', ''],
  ],
  a256gcm: [
    ['wasm / pure', 'wasm', 'pure', 'target ≥ 3.00'],
    ['pure / raw @noble', 'pure', 'raw @noble', 'target ≥ 0.90'],
    ['native / raw node:crypto', 'native', 'raw node:crypto', 'target ≥ 0.95'],
    ['wasm / native', 'wasm', 'native', ''],
  ],
};

for (const suite of Object.keys(suiteTitles) as Suite[]) {
  const subjects = [...new Set(perRun[0]!.filter((r) => r.suite === suite).map((r) => r.subject))];
  for (const op of ['seal', 'open'] as const) {
    const rows = subjects.map((subject) => [
      subject,
      ...sizes.flatMap((size) => {
        const wall = perRun.map((run) => pick(run, suite, subject, size, op).wallMBps);
        const cpu = perRun.map((run) => pick(run, suite, subject, size, op).cpuMBps);
        return [median(wall), median(cpu), `±${spreadPercent(wall).toFixed(0)}%`];
      }),
    ]);
    const headers = ['subject', ...sizes.flatMap((s) => [`${sizeLabel(s)} MB/s`, 'cpu MB/s', 'spread'])];
    console.log(`\n${suiteTitles[suite]} ${op} (median of ${runs}; spread = (max-min)/median of wall MB/s)\n${table(headers, rows)}`);
  }

  // By wall clock (what a user waits for) and by CPU time (steadier on a loaded machine).
  for (const [clock, field] of [['wall', 'wallMBps'], ['cpu', 'cpuMBps']] as const) {
    const ratioRows = targets[suite].map(([label, a, b, target]) => [
      label,
      ...sizes.flatMap((size) =>
        (['seal', 'open'] as const).map((op) =>
          median(perRun.map((run) => pick(run, suite, a, size, op)[field] / pick(run, suite, b, size, op)[field])),
        ),
      ),
      target,
    ]);
    const title = `${suiteTitles[suite]} ratio, ${clock} (per-process, median)`;
    const ratioHeaders = [title, ...sizes.flatMap((s) => [`${sizeLabel(s)} seal`, `${sizeLabel(s)} open`]), ''];
    console.log(`\n${table(ratioHeaders, ratioRows)}`);
  }
}

const medians = perRun[0]!.map(({ suite, subject, size, op }) => ({
  suite,
  subject,
  size,
  op,
  wallMBps: median(perRun.map((run) => pick(run, suite, subject, size, op).wallMBps)),
  cpuMBps: median(perRun.map((run) => pick(run, suite, subject, size, op).cpuMBps)),
}));
saveResults('crypto', started, { RUNS: runs, MS: ms, sizes }, { medians, runs: perRun });
