/** The netcrypt command's --version and bench, run as separate processes. */

import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadIdentity } from '../src/keys/identity.ts';
import { describe, it } from 'node:test';
import { cliWorkspace, runCli } from './helpers/cli.ts';

const { dir, home, keys } = await cliWorkspace();

describe('netcrypt defaults', () => {
  it('makes ~/.netcrypt/identity (0600) on first use and records a dialled key in ~/.netcrypt/known_hosts', async () => {
    const freshHome = join(dir, 'fresh-home');
    const listener = runCli(['listen', '0', '--key', keys[0], '--json'], { home, events: 'stderr', stdio: ['ignore', 'ignore', 'pipe'] });
    const { port } = await listener.nextEvent('listening');
    const dialler = runCli(['connect', `127.0.0.1:${port}`, '--json'], { home: freshHome, events: 'stderr', stdio: ['ignore', 'ignore', 'pipe'] });
    assert.equal(await dialler.exited, 0, dialler.text());
    assert.equal(await listener.exited, 0, listener.text());
    const identityPath = join(freshHome, '.netcrypt', 'identity');
    assert.deepEqual(dialler.events.find((event) => event.event === 'identity-created'), { event: 'identity-created', path: identityPath });
    assert.equal((await stat(identityPath)).mode & 0o777, 0o600);
    assert.equal((await stat(join(freshHome, '.netcrypt'))).mode & 0o777, 0o700);
    const made = await loadIdentity(identityPath);
    assert.equal(dialler.events.find((event) => event.event === 'identity')!.fingerprint, made.fingerprint);
    const listenerKey = (await loadIdentity(keys[0])).fingerprint;
    assert.equal(await readFile(join(freshHome, '.netcrypt', 'known_hosts'), 'utf8'), `127.0.0.1:${port} ${listenerKey}\n`);
  });
});

describe('netcrypt --version and bench', () => {
  it('--version prints package.json\'s version and exits 0', async () => {
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const run = runCli(['--version'], { home, events: 'stderr', stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    run.child.stdout!.on('data', (chunk: Buffer) => (out += chunk));
    assert.equal(await run.exited, 0);
    assert.equal(out.trim(), version);
  });

  it('bench --json measures every backend on both suites, or says the suite is not built in', async () => {
    const run = runCli(['bench', '--ms', '5', '--json'], { home });
    assert.equal(await run.exited, 0, run.text());
    const cells = run.events.map((event) => `${event.backend}/${event.suite}`);
    assert.deepEqual(cells.sort(), ['native', 'pure', 'wasm'].flatMap((b) => [`${b}/A256CBC-HS512`, `${b}/AES-256-GCM`]).sort());
    for (const event of run.events) {
      if (event.event === 'unavailable') continue;
      assert.equal(event.event, 'measurement');
      assert.ok((event.sealMBps as number) > 0 && (event.openMBps as number) > 0);
    }
  });
});
