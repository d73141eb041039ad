/** `netcrypt listen` / `netcrypt connect`: the encrypted pipe, between real processes over loopback. */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliWorkspace, runCli } from './helpers/cli.ts';
import { loadIdentity } from '../src/keys/identity.ts';

const fingerprintOf = async (key: string) => (await loadIdentity(key)).fingerprint;

const { dir, home, keys } = await cliWorkspace();
const [alice, bob] = keys;

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/** A file of `bytes` random bytes (written in pieces, so the test's memory stays small). */
async function randomFile(name: string, bytes: number): Promise<string> {
  const path = join(dir, name);
  const file = await open(path, 'w');
  for (let left = bytes; left > 0; left -= 1 << 20) await file.write(randomBytes(Math.min(left, 1 << 20)));
  await file.close();
  return path;
}

describe('netcrypt listen / connect', () => {
  it('pipes 100 MiB each way at once, byte-identical, and both exit 0', async () => {
    const [up, down] = await Promise.all([randomFile('up.bin', 100 << 20), randomFile('down.bin', 100 << 20)]);
    const files = await Promise.all([open(down, 'r'), open(join(dir, 'from-connect.bin'), 'w'), open(up, 'r'), open(join(dir, 'from-listen.bin'), 'w')]);
    const [downIn, upOut, upIn, downOut] = files.map((file) => file.fd);
    const listener = runCli(['listen', '0', '--key', alice, '--json'], { home, events: 'stderr', stdio: [downIn!, upOut!, 'pipe'] });
    const { port } = await listener.nextEvent('listening');
    const dialler = runCli(['connect', `127.0.0.1:${port}`, '--key', bob, '--json'], { home, events: 'stderr', stdio: [upIn!, downOut!, 'pipe'] });
    assert.equal(await dialler.exited, 0, dialler.text());
    assert.equal(await listener.exited, 0, listener.text());
    await Promise.all(files.map((file) => file.close()));
    assert.equal(await sha256(join(dir, 'from-connect.bin')), await sha256(up));
    assert.equal(await sha256(join(dir, 'from-listen.bin')), await sha256(down));
    const closed = dialler.events.find((event) => event.event === 'closed');
    assert.deepEqual(closed, { event: 'closed', sent: 100 << 20, received: 100 << 20 });
    // Both ends show the same code, and each the other's key.
    const [a, b] = [listener, dialler].map((side) => side.events.find((event) => event.event === 'peer')!);
    assert.equal(a!.code, b!.code);
    assert.equal(a!.fingerprint, b!.localFingerprint);
  });

  it('half-close: after connect\'s input ends, the listener still sends, and connect receives it all before both exit', async () => {
    const listener = runCli(['listen', '0', '--key', alice, '--json'], { home, events: 'stderr', stdio: ['pipe', 'pipe', 'pipe'] });
    const { port } = await listener.nextEvent('listening');
    const dialler = runCli(['connect', `127.0.0.1:${port}`, '--key', bob, '--json'], { home, events: 'stderr', stdio: ['pipe', 'pipe', 'pipe'] });
    const fromListener: Buffer[] = [];
    dialler.child.stdout!.on('data', (chunk: Buffer) => fromListener.push(chunk));
    const fromDialler: Buffer[] = [];
    listener.child.stdout!.on('data', (chunk: Buffer) => fromDialler.push(chunk));
    dialler.child.stdin!.end('question\n');
    // The listener learns that connect's direction has ended, and only then answers.
    assert.deepEqual(await listener.nextEvent('output-ended'), { event: 'output-ended', bytes: 9 });
    assert.equal(Buffer.concat(fromDialler).toString(), 'question\n');
    const answer = randomBytes(3 << 20);
    listener.child.stdin!.end(answer);
    assert.equal(await dialler.exited, 0, dialler.text());
    assert.equal(await listener.exited, 0, listener.text());
    assert.ok(Buffer.concat(fromListener).equals(answer));
  });

  it('a listener killed mid-stream leaves connect with ERR_TRUNCATED and exit code 5, not a clean end', async () => {
    const listener = runCli(['listen', '0', '--key', alice, '--json'], { home, events: 'stderr', stdio: ['pipe', 'ignore', 'pipe'] });
    const { port } = await listener.nextEvent('listening');
    const dialler = runCli(['connect', `127.0.0.1:${port}`, '--key', bob], { home, events: 'stderr', stdio: ['pipe', 'pipe', 'pipe'] });
    dialler.child.stdout!.once('data', () => listener.child.kill('SIGKILL'));
    listener.child.stdin!.write('some of it');
    assert.equal(await dialler.exited, 5);
    const lines = dialler.text().trim().split('\n');
    assert.match(lines.at(-1)!, /^netcrypt: .*\(ERR_TRUNCATED\)$/);
    assert.doesNotMatch(dialler.text(), /\n\s+at /, 'no stack trace');
  });

  it('connect to a port where no one listens exits 6 with ERR_CONNECT', async () => {
    const listener = runCli(['listen', '0', '--key', alice, '--json'], { home, events: 'stderr', stdio: ['pipe', 'ignore', 'pipe'] });
    const { port } = await listener.nextEvent('listening');
    listener.child.kill('SIGKILL');
    await listener.exited;
    const dialler = runCli(['connect', `127.0.0.1:${port}`, '--key', bob], { home, stdio: ['ignore', 'ignore', 'pipe'] });
    assert.equal(await dialler.exited, 6);
    assert.match(dialler.text(), /^netcrypt: .*\(ERR_CONNECT\)$/m);
  });

  it('a listener that --pins another key turns connect away with exit code 3 and keeps waiting', async () => {
    const listener = runCli(['listen', '0', '--key', alice, '--pin', await fingerprintOf(keys[2]), '--json'], { home, events: 'stderr', stdio: ['ignore', 'ignore', 'pipe'] });
    const { port } = await listener.nextEvent('listening');
    const dialler = runCli(['connect', `127.0.0.1:${port}`, '--key', bob, '--pin', await fingerprintOf(alice)], { home, events: 'stderr', stdio: ['ignore', 'ignore', 'pipe'] });
    assert.equal(await dialler.exited, 3, dialler.text());
    assert.match(dialler.text(), /^netcrypt: the peer reported ERR_PEER_KEY_MISMATCH .*\(ERR_PEER_ALERT\)$/m);
    const refused = await listener.nextEvent('handshake-failed');
    assert.equal(refused.code, 'ERR_PEER_KEY_MISMATCH');
    assert.equal(listener.child.exitCode, null, 'still listening');
    listener.child.kill('SIGINT');
    assert.equal(await listener.exited, 130);
  });

  it('a changed key at a known host:port is refused with both fingerprints and exit code 3', async () => {
    const knownHosts = join(dir, 'known_hosts_pipe');
    const first = runCli(['listen', '0', '--key', alice, '--json'], { home, events: 'stderr', stdio: ['ignore', 'ignore', 'pipe'] });
    const { port } = await first.nextEvent('listening');
    const honest = runCli(['connect', `127.0.0.1:${port}`, '--key', bob, '--known-hosts', knownHosts], { home, stdio: ['ignore', 'ignore', 'pipe'] });
    assert.equal(await honest.exited, 0, honest.text());
    assert.equal(await first.exited, 0);
    const mallory = keys[2];
    const impostor = runCli(['listen', String(port), '--key', mallory, '--json'], { home, events: 'stderr', stdio: ['ignore', 'ignore', 'pipe'] });
    await impostor.nextEvent('listening');
    const refused = runCli(['connect', `127.0.0.1:${port}`, '--key', bob, '--known-hosts', knownHosts], { home, stdio: ['ignore', 'ignore', 'pipe'] });
    assert.equal(await refused.exited, 3);
    assert.match(refused.text(), /has changed.*\(ERR_PEER_KEY_MISMATCH\)$/m);
    assert.match(await readFile(knownHosts, 'utf8'), new RegExp(`^127\\.0\\.0\\.1:${port} SHA256:`));
    impostor.child.kill('SIGKILL');
  });
});
