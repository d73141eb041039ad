/**
 * npm run bench:files — one file over loopback, sender and receiver in
 * separate processes so each side's peak RSS is its own, per backend.
 *
 *   SIZE=1g (default; e.g. 200m, 4g)   BACKENDS=native,wasm,pure (default)
 *
 * MB/s is by wall clock, from the sender's call to the receiver's verified,
 * fsynced file. CPU seconds are each process's own during the transfer.
 * Peak RSS is each process's maximum over its whole life (startup included).
 * The source file is on disk in a temporary folder; the page cache holds it
 * after it is written, so this measures the library, not the disk.
 * Results also go to bench/results/files.json (RESULTS= another folder).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { open, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadBackend } from '../src/backend/index.ts';
import { machine, saveResults } from './results.ts';
import { machineLine, table } from './stats.ts';

interface SenderResult {
  seconds: number;
  cpuSeconds: number;
  maxRssKiB: number;
  sha256: string;
}
type ReceiverResult = Omit<SenderResult, 'seconds'>;

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim());
  if (!match) throw new Error(`SIZE=${text}: expected e.g. 200m, 1g, 4g`);
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(match[1]) * unit);
}

const size = parseSize(process.env.SIZE ?? '1g');
const backends = (process.env.BACKENDS ?? 'native,wasm,pure').split(',').map((b) => b.trim());
const mib = (kib: number) => kib / 1024;

async function writeSource(path: string): Promise<void> {
  const block = Buffer.allocUnsafe(16 * 1024 * 1024);
  const file = await open(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const length = Math.min(block.length, size - written);
      randomFillSync(block, 0, length);
      await file.write(block, 0, length);
      written += length;
    }
  } finally {
    await file.close();
  }
}

function worker(name: string, args: string[]): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
  const script = fileURLToPath(new URL(`./files-${name}.ts`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return { child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() };
}

async function nextJson<T>(lines: AsyncIterableIterator<string>, who: string): Promise<T> {
  const { value, done } = await lines.next();
  if (done) throw new Error(`${who} exited without a result`);
  return JSON.parse(value) as T;
}

async function run(backend: string, source: string, into: string): Promise<{ sender: SenderResult; receiver: ReceiverResult }> {
  const receiver = worker('receiver', [backend, into]);
  const address = await nextJson<{ port: number; fingerprint: string }>(receiver.lines, 'receiver');
  const sender = worker('sender', [backend, String(address.port), address.fingerprint, source]);
  const [sent, received] = await Promise.all([
    nextJson<SenderResult>(sender.lines, 'sender'),
    nextJson<ReceiverResult>(receiver.lines, 'receiver'),
  ]);
  await Promise.all([once(sender.child, 'exit'), once(receiver.child, 'exit')]);
  if (sent.sha256 !== received.sha256) throw new Error(`${backend}: SHA-256 differs between the sides`);
  return { sender: sent, receiver: received };
}

const started = machine();
console.log(`bench:files — ${(size / 2 ** 20).toFixed(0)} MiB over loopback, sender and receiver in separate processes; ${machineLine()}`);
const work = await mkdtemp(join(tmpdir(), 'netcrypt-bench-files-'));
try {
  const source = join(work, 'source.bin');
  process.stderr.write(`  writing ${source}…\n`);
  await writeSource(source);
  const rows: (string | number)[][] = [];
  const measured: { backend: string; MBps: number; sender: SenderResult; receiver: ReceiverResult }[] = [];
  for (const backend of backends) {
    try {
      await loadBackend(backend as 'native');
    } catch (error) {
      rows.push([backend, `unavailable: ${(error as Error).message}`, '', '', '', '', '']);
      continue;
    }
    process.stderr.write(`  ${backend}…\n`);
    const into = join(work, backend);
    await mkdir(into);
    const { sender, receiver } = await run(backend, source, into);
    await rm(into, { recursive: true });
    measured.push({ backend, MBps: size / 1e6 / sender.seconds, sender, receiver });
    rows.push([
      backend,
      size / 1e6 / sender.seconds,
      sender.seconds,
      sender.cpuSeconds,
      receiver.cpuSeconds,
      mib(sender.maxRssKiB),
      mib(receiver.maxRssKiB),
    ]);
  }
  rows.push(['Python original (200 MB)', 17, 200 / 17, '-', '-', 784, '-']);
  console.log(`\n${table(['backend', 'MB/s', 'wall s', 'send CPU s', 'recv CPU s', 'send peak RSS MiB', 'recv peak RSS MiB'], rows)}`);
  saveResults('files', started, { SIZE: size, BACKENDS: backends }, { rows: measured });
  console.log('\nOne run per backend: loopback throughput on a shared 2-core machine varies by ±10–20% between runs.');
} finally {
  await rm(work, { recursive: true, force: true });
}
