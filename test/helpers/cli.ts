/**
 * Runs the netcrypt command as separate processes, as a user would (through
 * tsx, from the sources), with a private HOME so ~/.netcrypt is the test's.
 */

import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { saveIdentity } from '../../src/keys/identity.ts';
import { testIdentities } from './identities.ts';

export const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface CliEvent {
  event: string;
  [field: string]: unknown;
}

export interface CliProcess {
  child: ChildProcess;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** The JSON events so far, from the stream chosen by `events`. */
  events: CliEvent[];
  /** The `nth` event of that name (default the first), once it has come. */
  nextEvent(name: string, nth?: number): Promise<CliEvent>;
  /** What stderr carried (but for events), and stdout's lines that are not events when the events are on stdout. */
  text(): string;
}

export interface CliRunOptions {
  stdio?: StdioOptions;
  /** Which stream carries the --json events: 'stdout' (send, receive) or 'stderr' (listen, connect). */
  events?: 'stdout' | 'stderr';
  home: string;
  cwd?: string;
}

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

export function runCli(args: string[], options: CliRunOptions): CliProcess {
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOME: options.home },
    cwd: options.cwd,
  });
  running.add(child);
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal!);
    });
  });
  const events: CliEvent[] = [];
  const waiters: (() => void)[] = [];
  let text = '';
  const eventStream = options.events === 'stderr' ? child.stderr : child.stdout;
  if (eventStream) {
    createInterface({ input: eventStream }).on('line', (line) => {
      if (!line.startsWith('{')) {
        text += `${line}\n`;
        return;
      }
      events.push(JSON.parse(line) as CliEvent);
      for (const wake of waiters.splice(0)) wake();
    });
  }
  // With the events on stderr, stdout is the data: the test reads it itself.
  if (options.events !== 'stderr') child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const nextEvent = async (name: string, nth = 1) => {
    for (;;) {
      const found = events.filter((event) => event.event === name)[nth - 1];
      if (found) return found;
      const done = await Promise.race([new Promise<boolean>((resolve) => waiters.push(() => resolve(false))), exited.then(() => true)]);
      if (done && events.filter((event) => event.event === name).length < nth) throw new Error(`netcrypt ${args[0]} exited without ${nth} ${name} event(s):\n${text}`);
    }
  };
  return { child, exited, events, nextEvent, text: () => text };
}

/** A private HOME and two key files (2048-bit, so the tests stay quick), removed when the test file ends. */
export async function cliWorkspace(): Promise<{ dir: string; home: string; keys: [string, string, string] }> {
  const dir = await mkdtemp(join(tmpdir(), 'netcrypt-cli-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const identities = await testIdentities();
  const keys = ['alice.key', 'bob.key', 'mallory.key'].map((name) => join(dir, name)) as [string, string, string];
  await Promise.all(identities.map((identity, i) => saveIdentity(identity, keys[i]!)));
  return { dir, home: join(dir, 'home'), keys };
}
