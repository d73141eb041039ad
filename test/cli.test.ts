/** The netcrypt command, run as a user would (through tsx, from the sources). */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execFile, spawn } from 'node:child_process';
import { appendFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { isNetcryptError } from '../src/errors.ts';
import type { Identity } from '../src/keys/identity.ts';
import { connect } from '../src/protocol/connect.ts';
import { testIdentities } from './helpers/identities.ts';

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

/** Starts `netcrypt serve` and waits for its "listening" line; stopped when the test file ends. */
async function startServe(...args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  after(() => void child.kill());
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (/^listening on /m.test(stdout)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  const serverKey = /^server key (SHA256:\S+)$/m.exec(stdout)![1]! as `SHA256:${string}`;
  return { child, stdout: () => stdout, stderr: () => stderr, serverKey };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('netcrypt serve', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netcrypt-serve-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const [alice, bob] = await testIdentities();
  const echoes = async (port: number, identity: Identity, pin: `SHA256:${string}`, host = '127.0.0.1') => {
    const channel = await connect({ host, port, identity, pin });
    await channel.send('ping');
    const reply = (await channel.receive()).toString();
    await channel.close();
    return reply;
  };

  it('listens on loopback only unless --host widens it, and warns about a key that is new at every start', async () => {
    const port = await freePort();
    const served = await startServe('--port', String(port));
    assert.match(served.stdout(), new RegExp(`^listening on 127\\.0\\.0\\.1:${port} \\(this machine only; --host 0\\.0\\.0\\.0 to accept others\\)$`, 'm'));
    assert.match(served.stdout(), /WARNING: no --key, so this key is new at every start/);
    assert.match(served.stdout(), /any client key is served: pass --pin or --known-clients/);
    assert.equal(await echoes(port, alice!, served.serverKey), 'ping');
    // 127.0.0.2 is this machine too, but not the address the server is bound to.
    await assert.rejects(echoes(port, alice!, served.serverKey, '127.0.0.2'), { code: 'ERR_CONNECT' });

    const widePort = await freePort();
    const wide = await startServe('--port', String(widePort), '--host', '0.0.0.0');
    assert.match(wide.stdout(), new RegExp(`^listening on 0\\.0\\.0\\.0:${widePort}$`, 'm'));
    assert.equal(await echoes(widePort, alice!, wide.serverKey, '127.0.0.2'), 'ping');
  });

  it('on SIGTERM every client gets an authenticated close, then the process exits 0', async () => {
    const port = await freePort();
    const served = await startServe('--port', String(port));
    const channel = await connect({ port, identity: alice!, pin: served.serverKey });
    await channel.send('ping');
    assert.equal((await channel.receive()).toString(), 'ping');
    const told = once(channel, 'end');
    const exited = once(served.child, 'exit');
    served.child.kill('SIGTERM');
    await told;
    await channel.close();
    assert.equal(channel.closedCleanly, true);
    assert.deepEqual(await exited, [0, null]);
    assert.match(served.stdout(), /^closing: 1 client\(s\) get an authenticated close$/m);
    assert.doesNotMatch(served.stderr(), /client left/);
  });

  it('--pin serves only the pinned client; --known-clients only those listed, read again when the file changes', async () => {
    const key = join(dir, 'server.key');
    await run('keygen', key, '--key-size', '2048');
    const pinnedPort = await freePort();
    const pinned = await startServe('--key', key, '--port', String(pinnedPort), '--pin', alice!.fingerprint);
    assert.doesNotMatch(pinned.stdout(), /WARNING|any client key/);
    assert.equal(await echoes(pinnedPort, alice!, pinned.serverKey), 'ping');
    await assert.rejects(echoes(pinnedPort, bob!, pinned.serverKey), (error: unknown) => isNetcryptError(error));

    const list = join(dir, 'known_clients');
    await writeFile(list, `# who may connect\n${bob!.fingerprint} bob's laptop\n`);
    const listedPort = await freePort();
    const listed = await startServe('--key', key, '--port', String(listedPort), '--known-clients', list);
    assert.equal(listed.serverKey, pinned.serverKey, 'the stored key, not a new one');
    assert.equal(await echoes(listedPort, bob!, listed.serverKey), 'ping');
    await assert.rejects(echoes(listedPort, alice!, listed.serverKey), (error: unknown) => isNetcryptError(error));
    await appendFile(list, `${alice!.fingerprint}\n`);
    assert.equal(await echoes(listedPort, alice!, listed.serverKey), 'ping');
    assert.match(listed.stderr(), /failed its handshake: client key \S+ is not pinned nor listed in /);
  });

  it('a port already in use, a bad --pin and a missing known-clients file each print one line with a code', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    after(() => blocker.close());
    const busy = String((blocker.address() as net.AddressInfo).port);
    const cases: [string[], RegExp][] = [
      [['serve', '--port', busy], /^netcrypt: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE \(ERR_LISTEN\)\n$/],
      [['serve', '--pin', 'SHA256:nope'], /^netcrypt: --pin "SHA256:nope" is not a SHA256:… fingerprint \(ERR_INVALID_ARGUMENT\)\n$/],
      [['serve', '--known-clients', join(dir, 'missing')], /^netcrypt: cannot read the known-clients file .*missing \(ERR_FILE_IO\)\n$/],
    ];
    for (const [args, expected] of cases) {
      await assert.rejects(run(...args), (error: { code: number; stderr: Buffer }) => {
        assert.match(error.stderr.toString(), expected);
        assert.notEqual(error.code, 0);
        return true;
      });
    }
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
