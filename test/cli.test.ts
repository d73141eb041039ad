/** The netcrypt command, run as a user would (through tsx, from the sources). */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'buffer', maxBuffer: 64 << 20 });

describe('netcrypt CLI', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netcrypt-cli-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('demo exchanges keys, a message, a payload and a file, and prints fingerprints and speeds', async () => {
    const { stdout } = await run('demo', '--key-size', '2048', '--payload-mib', '4', '--file-mib', '4');
    const text = stdout.toString();
    assert.match(text, /client key {2}SHA256:[A-Za-z0-9+/]{43}/);
    assert.match(text, /server key {2}SHA256:[A-Za-z0-9+/]{43}/);
    assert.match(text, /message {5}"Thanks for having me" → server says "received 20 bytes"/);
    assert.match(text, /payload {5}4 MiB in one message → received 4194304 bytes — \d+ MB\/s/);
    assert.match(text, /SHA-256 verified/);
    assert.match(text, /authenticated close/);
  });

  it('keygen, fingerprint, encrypt and decrypt round-trip a file', async () => {
    const key = join(dir, 'alice.key');
    const printed = (await run('keygen', key, '--key-size', '2048')).stdout.toString().trim();
    assert.equal((await stat(key)).mode & 0o777, 0o600);
    assert.equal((await run('fingerprint', `${key}.pub`)).stdout.toString().trim(), printed);
    assert.equal((await run('fingerprint', key)).stdout.toString().trim(), printed);
    const secret = join(dir, 'secret.txt');
    await writeFile(secret, 'the eagle lands at dawn');
    const sealed = join(dir, 'secret.nce');
    await writeFile(sealed, (await run('encrypt', '--to', `${key}.pub`, secret)).stdout);
    assert.equal((await run('decrypt', '--key', key, sealed)).stdout.toString(), 'the eagle lands at dawn');
  });

  it('reports failures as NetcryptError codes with a non-zero exit', async () => {
    const key = join(dir, 'bob.key');
    await run('keygen', key, '--key-size', '2048');
    const tampered = join(dir, 'tampered.nce');
    const sealed = (await run('encrypt', '--to', `${key}.pub`, join(dir, 'secret.txt'))).stdout;
    sealed[sealed.length - 1]! ^= 1;
    await writeFile(tampered, sealed);
    await assert.rejects(run('decrypt', '--key', key, tampered), (error: { code: number; stderr: Buffer }) => {
      // 4: what arrived failed authentication (src/cli/exit-codes.ts).
      return error.code === 4 && /^netcrypt: .* \(ERR_AUTH\)\n$/.test(error.stderr.toString());
    });
  });
});

describe('netcrypt failures', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netcrypt-failures-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('decrypt, encrypt and fingerprint on a missing file print one line with ERR_FILE_IO, no stack trace', async () => {
    const key = join(dir, 'k.key');
    await run('keygen', key, '--key-size', '2048');
    const missing = join(dir, 'missing.nce');
    for (const args of [['decrypt', '--key', key, missing], ['encrypt', '--to', `${key}.pub`, missing], ['fingerprint', missing]]) {
      await assert.rejects(run(...args), (error: { code: number; stderr: Buffer }) => {
        const stderr = error.stderr.toString();
        assert.equal(stderr, `netcrypt: cannot read ${missing}: ENOENT (ERR_FILE_IO)\n`, args.join(' '));
        assert.equal(error.code, 1);
        return true;
      });
    }
  });
});
