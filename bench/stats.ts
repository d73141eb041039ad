/** Shared helpers for the benchmarks: repeated child runs, medians, tables. */

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Spread of a sample as (max-min)/median, in percent: the noise a reader should discount. */
export function spreadPercent(values: number[]): number {
  const m = median(values);
  return m === 0 ? 0 : ((Math.max(...values) - Math.min(...values)) / m) * 100;
}

/** Runs a worker script in `runs` fresh node processes and returns each one's JSON result. */
export function runWorkers<T>(workerUrl: URL, runs: number, args: string[] = []): T[] {
  const results: T[] = [];
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`  run ${i + 1}/${runs}…\n`);
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(workerUrl), ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 16 << 20,
    });
    results.push(JSON.parse(out) as T);
  }
  return results;
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function machineLine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `node ${process.version}, ${os.cpus().length} × ${cpu}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

/** Wall and CPU time of a synchronous loop that runs until `minMs` have passed; returns per-iteration figures. */
export function timeLoop(minMs: number, body: () => void): { iterations: number; wallMs: number; cpuMs: number } {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let iterations = 0;
  let wallMs = 0;
  do {
    for (let i = 0; i < 8; i++) body();
    iterations += 8;
    wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (wallMs < minMs);
  const cpu = process.cpuUsage(cpu0);
  return { iterations, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

export const benchDir = fileURLToPath(new URL('.', import.meta.url));
