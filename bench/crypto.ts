/**
 * npm run bench:crypto — A256CBC-HS512 seal/open throughput of the three
 * backends against raw node:crypto and raw @noble compositions.
 *
 * Each of RUNS fresh processes measures every subject; tables show medians
 * across processes, MB/s by wall clock and by CPU time. Ratios are computed
 * inside each process (same moment, same noise) and then their median taken.
 *
 *   RUNS=7 MS=500 npm run bench:crypto
 */

import { machineLine, median, runWorkers, spreadPercent, table } from './stats.ts';

interface Result {
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

console.log(`bench:crypto — ${runs} processes × ${ms} ms per case; ${machineLine()}`);
const perRun = runWorkers<Result[]>(new URL('./crypto-worker.ts', import.meta.url), runs, [sizes.join(','), String(ms)]);

const subjects = [...new Set(perRun[0]!.map((r) => r.subject))];
const pick = (run: Result[], subject: string, size: number, op: string) =>
  run.find((r) => r.subject === subject && r.size === size && r.op === op)!;

for (const op of ['seal', 'open'] as const) {
  const rows = subjects.map((subject) => [
    subject,
    ...sizes.flatMap((size) => {
      const wall = perRun.map((run) => pick(run, subject, size, op).wallMBps);
      const cpu = perRun.map((run) => pick(run, subject, size, op).cpuMBps);
      return [median(wall), median(cpu), `±${spreadPercent(wall).toFixed(0)}%`];
    }),
  ]);
  const headers = ['subject', ...sizes.flatMap((s) => [`${sizeLabel(s)} MB/s`, 'cpu MB/s', 'spread'])];
  console.log(`\n${op} (median of ${runs}; spread = (max-min)/median of wall MB/s)\n${table(headers, rows)}`);
}

const ratios: [string, string, string, string][] = [
  ['wasm / pure', 'wasm', 'pure', 'target ≥ 2.00'],
  ['pure / raw @noble', 'pure', 'raw @noble', 'target ≥ 0.90'],
  ['native / raw node:crypto', 'native', 'raw node:crypto', 'target ≥ 0.95'],
  ['wasm / native', 'wasm', 'native', ''],
];
const ratioRows = ratios.map(([label, a, b, target]) => [
  label,
  ...sizes.flatMap((size) =>
    (['seal', 'open'] as const).map((op) =>
      median(perRun.map((run) => pick(run, a, size, op).wallMBps / pick(run, b, size, op).wallMBps)),
    ),
  ),
  target,
]);
const ratioHeaders = ['ratio (per-process, median)', ...sizes.flatMap((s) => [`${sizeLabel(s)} seal`, `${sizeLabel(s)} open`]), ''];
console.log(`\n${table(ratioHeaders, ratioRows)}`);
