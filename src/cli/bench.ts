/**
 * `netcrypt bench`: a quick table of what this machine does with each
 * backend and each record suite — MB/s sealing and opening 64 KiB records,
 * the size the channel uses. A rough guide in seconds, not `npm run bench`.
 */

import { randomBytes } from 'node:crypto';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type Backend, type BackendName, ErrorCode, isNetcryptError, loadBackend } from '../index.ts';
import { runCommand } from './exit-codes.ts';
import { type OutputOptions, Reporter } from './report.ts';

const BACKENDS: readonly BackendName[] = ['native', 'wasm', 'pure'];
const RECORD_BYTES = 64 * 1024;

interface Suite {
  name: string;
  keyBytes: number;
  nonceBytes: number;
  seal: (backend: Backend) => Backend['seal'];
  open: (backend: Backend) => Backend['open'];
}

const SUITES: readonly Suite[] = [
  { name: 'A256CBC-HS512', keyBytes: 64, nonceBytes: 16, seal: (b) => b.seal.bind(b), open: (b) => b.open.bind(b) },
  { name: 'AES-256-GCM', keyBytes: 32, nonceBytes: 12, seal: (b) => b.gcmSeal.bind(b), open: (b) => b.gcmOpen.bind(b) },
];

interface BenchOptions extends OutputOptions {
  ms: number;
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('a quick table of each backend and suite on this machine (MB/s on 64 KiB records)')
    .addOption(new Option('--ms <n>', 'time per measurement').argParser(positiveInt).default(300))
    .option('--json', 'one JSON object per measurement')
    .action(
      runCommand(async (options: BenchOptions) => {
        const report = new Reporter(options);
        const plaintext = randomBytes(RECORD_BYTES);
        const aad = randomBytes(13);
        report.print(`${'backend'.padEnd(8)}${SUITES.map((suite) => `${`${suite.name} seal`.padStart(22)}${'open'.padStart(10)}`).join('')}`);
        for (const name of BACKENDS) {
          let backend: Backend;
          try {
            backend = await loadBackend(name);
          } catch (error) {
            report.print(`${name.padEnd(8)}  not available here (${(error as { code?: string }).code ?? 'error'})`);
            for (const suite of SUITES) report.event('unavailable', { backend: name, suite: suite.name });
            continue;
          }
          let row = name.padEnd(8);
          for (const suite of SUITES) {
            const measured = measure(backend, suite, plaintext, aad, options.ms);
            if (!measured) {
              row += `${'not built in'.padStart(22)}${''.padStart(10)}`;
              report.event('unavailable', { backend: name, suite: suite.name });
              continue;
            }
            row += `${`${measured.seal.toFixed(0)} MB/s`.padStart(22)}${`${measured.open.toFixed(0)} MB/s`.padStart(10)}`;
            report.event('measurement', { backend: name, suite: suite.name, recordBytes: RECORD_BYTES, sealMBps: measured.seal, openMBps: measured.open });
          }
          report.print(row);
        }
      }),
    );
}

/** Seal and open rates, or undefined if this backend lacks the suite (ERR_BACKEND_UNAVAILABLE). */
function measure(backend: Backend, suite: Suite, plaintext: Uint8Array, aad: Uint8Array, ms: number): { seal: number; open: number } | undefined {
  const [key, nonce] = [randomBytes(suite.keyBytes), randomBytes(suite.nonceBytes)];
  const [seal, open] = [suite.seal(backend), suite.open(backend)];
  let sealed: Uint8Array;
  try {
    sealed = seal(key, nonce, aad, plaintext);
  } catch (error) {
    if (isNetcryptError(error, ErrorCode.BACKEND_UNAVAILABLE)) return undefined;
    throw error;
  }
  return { seal: rate(() => seal(key, nonce, aad, plaintext), ms), open: rate(() => open(key, nonce, aad, sealed), ms) };
}

/** MB/s of plaintext through `operation` on one record, run for about `ms`. */
function rate(operation: () => void, ms: number): number {
  for (let i = 0; i < 3; i++) operation(); // warm up: JIT, WebAssembly instance
  let runs = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    operation();
    runs++;
    elapsed = performance.now() - started;
  }
  return (runs * RECORD_BYTES) / 1e6 / (elapsed / 1000);
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
