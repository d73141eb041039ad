/**
 * npm run bench:flood — what a pre-authentication flood costs an honest client.
 *
 * A server (its own process, RSA-3072, createServer()'s default bounds)
 * answers HANDSHAKES (default 15) sequential handshakes from a client bound
 * to 127.0.0.2: first unloaded; then while a third process floods it from
 * 127.0.0.1, replaying one recorded hello with random key messages over 32
 * connections at a time (test/helpers/handshake-flood.ts) — each one let
 * through costs the server an RSA-3072 decryption; then under the same flood
 * with the per-source limit off, to show what the limiter buys. Reports the
 * honest handshake's median and 90th percentile, and what the flood got.
 */

import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadBackend } from '../src/backend/index.ts';
import { isNetcryptError, ErrorCode } from '../src/errors.ts';
import { Handshake } from '../src/handshake/handshake.ts';
import { type Identity, generateIdentity, identityFromPrivateKey } from '../src/keys/identity.ts';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { machineLine, median, table } from './stats.ts';

// At most the default burst (20): more in a row would empty the honest client's own bucket.
const HANDSHAKES = Number(process.env.HANDSHAKES ?? 15);
const FLOOD_WARMUP_MS = 1000;
const flooder = fileURLToPath(new URL('../test/helpers/handshake-flood.ts', import.meta.url));
const self = fileURLToPath(import.meta.url);

interface ServerStats {
  rateLimited: number;
  decryptions: number;
  otherRefusals: number;
}

if (process.argv[2] === 'server') await runServer(process.argv[3] === 'unlimited');
else await main();

/** The server side: reports its port, then counts what its bounds did until asked for the figures. */
async function runServer(unlimited: boolean): Promise<void> {
  const identity = identityFromPrivateKey(process.env.SERVER_KEY!);
  const stats: ServerStats = { rateLimited: 0, decryptions: 0, otherRefusals: 0 };
  const server = createServer(
    {
      identity,
      backend: 'native',
      ...(unlimited ? { handshakeRate: false as const, maxConnectionsPerSource: Infinity } : {}),
      onHandshakeError: (error) => {
        if (isNetcryptError(error, ErrorCode.RATE_LIMITED)) stats.rateLimited++;
        else if (isNetcryptError(error, ErrorCode.AUTH)) stats.decryptions++;
        else stats.otherRefusals++;
      },
    },
    async (channel) => {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.on('message', (message) => {
    if (message === 'stats') process.send!(stats);
    if (message === 'exit') process.exit(0);
  });
  process.send!({ port: (server.address() as net.AddressInfo).port });
}

function ask<T>(child: ChildProcess, message?: string): Promise<T> {
  const reply = new Promise<T>((resolve, reject) => {
    child.once('message', (value) => resolve(value as T));
    child.once('exit', (code) => reject(new Error(`child exited (${code})`)));
  });
  if (message) child.send(message);
  return reply;
}

async function honestHandshakes(port: number, identity: Identity, pin: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < HANDSHAKES; i++) {
    const start = performance.now();
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const channel = await connect({ socket, port, identity, pin, backend: 'native' });
    times.push(performance.now() - start);
    await channel.close();
  }
  return times;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function row(label: string, serverKey: string, pin: string, client: Identity, flood: 'none' | 'limited' | 'unlimited') {
  process.stderr.write(`  ${label}…\n`);
  const server = fork(self, ['server', flood === 'unlimited' ? 'unlimited' : 'limited'], { execArgv: ['--import', 'tsx'], env: { ...process.env, SERVER_KEY: serverKey } });
  const { port } = await ask<{ port: number }>(server);
  let flooding: ChildProcess | undefined;
  let floodSummary: Promise<{ connections: number; elapsedMs: number }> | undefined;
  if (flood !== 'none') {
    const hello = new Handshake({ role: 'client', identity: client, backend: await loadBackend('native') }).start()[0]!;
    flooding = fork(flooder, [String(port), Buffer.from(hello).toString('hex'), '384', '1000000', '120000', '32'], { execArgv: ['--import', 'tsx'] });
    floodSummary = ask(flooding);
    await new Promise((resolve) => setTimeout(resolve, FLOOD_WARMUP_MS));
  }
  const times = await honestHandshakes(port, client, pin);
  flooding?.send('stop');
  const summary = await floodSummary;
  const stats = await ask<ServerStats>(server, 'stats');
  server.send('exit');
  const seconds = (summary?.elapsedMs ?? 1) / 1000;
  return [
    label,
    median(times),
    percentile(times, 90),
    summary ? summary.connections / seconds : 0,
    summary ? stats.decryptions / seconds : 0,
    summary ? stats.rateLimited / seconds : 0,
  ];
}

async function main(): Promise<void> {
  process.stderr.write('generating RSA-3072 keys…\n');
  const [serverIdentity, client] = await Promise.all([generateIdentity(), generateIdentity()]);
  const serverKey = serverIdentity.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const pin = serverIdentity.fingerprint;
  const rows = [
    await row('unloaded', serverKey, pin, client, 'none'),
    await row('flood, default bounds', serverKey, pin, client, 'limited'),
    await row('flood, no per-source limit', serverKey, pin, client, 'unlimited'),
  ];
  console.log(`\nhonest handshake from 127.0.0.2 (RSA-3072, ${HANDSHAKES} sequential), flood from 127.0.0.1 over 32 connections\n`);
  console.log(table(['', 'median ms', 'p90 ms', 'flood conn/s', 'RSA decrypts/s', 'refused/s'], rows));
  console.log(`\n${machineLine()}`);
}
