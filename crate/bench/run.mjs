// Runs throughput.mjs in several fresh Node processes (V8's code for the big
// wasm functions differs between processes) and prints the median of each
// figure. Usage: node crate/bench/run.mjs [runs=5] [path/to/netcrypt.wasm] [--no-pure]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('throughput.mjs', import.meta.url));
const args = process.argv.slice(2);
const runs = /^\d+$/.test(args[0] ?? '') ? Number(args.shift()) : 5;
const results = [];
for (let i = 0; i < runs; i++) {
  results.push(JSON.parse(execFileSync(process.execPath, [script, ...args], { encoding: 'utf8' })));
}
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
console.log(`median of ${runs} processes, MB/s (wall / cpu):`);
for (const name of Object.keys(results[0])) {
  const wall = median(results.map((r) => r[name].wall));
  const cpu = median(results.map((r) => r[name].cpu));
  console.log(`${name.padEnd(22)} ${String(wall).padStart(7)} / ${cpu}`);
}
