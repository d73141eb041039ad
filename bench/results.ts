/**
 * Where the benchmarks leave their results for scripts/bench-chart.ts:
 * `<RESULTS or bench/results>/<name>.json`, with the machine and the run's
 * settings beside the numbers so a chart can say what it shows.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const resultsDir = process.env.RESULTS ?? fileURLToPath(new URL('./results/', import.meta.url));

export interface Machine {
  node: string;
  cpus: number;
  cpu: string;
  loadAverage: number[];
}

export function machine(): Machine {
  return { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown CPU', loadAverage: os.loadavg() };
}

/** Writes `<name>.json` and returns its path. `started` is the machine as the run began; its end is added here. */
export function saveResults(name: string, started: Machine, settings: Record<string, unknown>, results: Record<string, unknown>): string {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.json`);
  const document = { bench: name, date: new Date().toISOString(), machine: { ...started, loadAverageAtEnd: os.loadavg() }, settings, ...results };
  writeFileSync(path, `${JSON.stringify(document, null, 2)}\n`);
  return path;
}
