/**
 * The package as npm would install it: built with the build config, then
 * loaded by name from a CommonJS script (require(esm), Node ≥ 20.19 / 22.12)
 * and from an ES module, each in its own process.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  exports: Record<string, Record<string, string>>;
  files: string[];
  license: string;
};

// What the consumer scripts do with the package: a real loopback session, pinned, and a brand check.
const SESSION = `
const identities = await Promise.all([netcrypt.generateIdentity({ modulusLength: 2048 }), netcrypt.generateIdentity({ modulusLength: 2048 })]);
const server = netcrypt.createServer({ identity: identities[0] }, async (channel) => {
  for await (const message of channel) await channel.send(message);
  await channel.close();
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const channel = await netcrypt.connect({ port: server.address().port, identity: identities[1], pin: identities[0].fingerprint });
await channel.send('over the built package');
const echoed = (await channel.receive()).toString();
await channel.close();
server.close();
const error = await netcrypt.connect({ port: 1, trust: 'any' }).catch((reason) => reason);
console.log(JSON.stringify({ echoed, code: error.code, branded: error instanceof netcrypt.NetcryptError && netcrypt.isNetcryptError(error) }));
`;

describe('the built package', () => {
  let consumer: string;
  let scratch: string;

  before(async () => {
    // A copy of the package as installed: package.json, the build, the wasm file, and its dependencies.
    scratch = await mkdtemp(join(tmpdir(), 'netcrypt-package-'));
    const installed = join(scratch, 'netcrypt');
    await mkdir(installed);
    await cp(join(root, 'package.json'), join(installed, 'package.json'));
    await cp(join(root, 'wasm'), join(installed, 'wasm'), { recursive: true });
    await symlink(join(root, 'node_modules'), join(installed, 'node_modules'));
    await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(installed, 'dist')]);
    consumer = join(scratch, 'consumer');
    await mkdir(join(consumer, 'node_modules'), { recursive: true });
    await symlink(installed, join(consumer, 'node_modules', 'netcrypt'));
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  it('require("netcrypt") from CommonJS loads the ES module build and works', async () => {
    const script = join(consumer, 'session.cjs');
    await writeFile(script, `const netcrypt = require('netcrypt');\n(async () => {${SESSION}})();\n`);
    const { stdout } = await run(process.execPath, [script], { cwd: consumer });
    assert.deepEqual(JSON.parse(stdout), { echoed: 'over the built package', code: 'ERR_CONNECT', branded: true });
  });

  it('import "netcrypt" from an ES module works too', async () => {
    const script = join(consumer, 'session.mjs');
    await writeFile(script, `import * as netcrypt from 'netcrypt';\n${SESSION}\n`);
    const { stdout } = await run(process.execPath, [script], { cwd: consumer });
    assert.deepEqual(JSON.parse(stdout), { echoed: 'over the built package', code: 'ERR_CONNECT', branded: true });
  });

  it('the bin runs from the build', async () => {
    const { stdout } = await run(process.execPath, [join(consumer, 'node_modules', 'netcrypt', 'dist', 'cli.js'), '--help'], { cwd: consumer });
    assert.match(stdout, /serve/);
  });
});

describe('package.json', () => {
  it('builds on prepack and before the demo, and has no prepare script (npm warns on install)', () => {
    assert.equal(manifest.scripts.prepare, undefined);
    assert.equal(manifest.scripts.prepack, 'npm run build');
    assert.match(manifest.scripts.demo!, /^npm run build && /);
  });

  it('ships its licence and changelog, and the licence is MIT for the netcrypt authors', async () => {
    assert.ok(manifest.files.includes('LICENSE') && manifest.files.includes('CHANGELOG.md'));
    assert.equal(manifest.license, 'MIT');
    assert.match(await readFile(join(root, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} the netcrypt authors\n/);
    assert.match(await readFile(join(root, 'CHANGELOG.md'), 'utf8'), /^## Unreleased$[\s\S]*^## 0\.1\.0/m);
  });
});
