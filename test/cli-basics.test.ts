/** The netcrypt command's --version and bench, run as separate processes. */

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { cliWorkspace, runCli } from './helpers/cli.ts';

const { home } = await cliWorkspace();

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
