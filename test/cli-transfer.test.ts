/** `netcrypt send` / `netcrypt receive` between real processes over loopback. */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connect } from '../src/protocol/connect.ts';
import { loadIdentity } from '../src/keys/identity.ts';
import { RawSender, fileEntry } from './helpers/files-hostile.ts';
import { type CliEvent, cliWorkspace, runCli } from './helpers/cli.ts';

const { dir, home, keys } = await cliWorkspace();
const [alice, bob] = keys;
const [aliceFp, bobFp] = (await Promise.all([alice, bob].map(async (key) => (await loadIdentity(key)).fingerprint))) as [string, string];

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

async function tree(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true })).sort();
}

let folders = 0;
async function folder(label: string): Promise<string> {
  const path = join(dir, `${label}-${++folders}`);
  await mkdir(path, { recursive: true });
  return path;
}

/** A small tree: two files at the top of `photos`, one a level down, one of 3 MB. */
async function photoTree(root: string): Promise<string> {
  const photos = join(root, 'photos');
  await mkdir(join(photos, '2026', 'march'), { recursive: true });
  await writeFile(join(photos, 'a.jpg'), randomBytes(1000));
  await writeFile(join(photos, 'b.jpg'), randomBytes(3_000_000));
  await writeFile(join(photos, '2026', 'march', 'c.jpg'), randomBytes(5000));
  return photos;
}

async function randomFile(path: string, bytes: number): Promise<void> {
  const file = await open(path, 'w');
  for (let left = bytes; left > 0; left -= 1 << 20) await file.write(randomBytes(Math.min(left, 1 << 20)));
  await file.close();
}

const eventsNamed = (events: CliEvent[], name: string) => events.filter((event) => event.event === name);

describe('netcrypt send / receive', () => {
  it('sends a folder tree and a file to a listening receiver; --json events parse and tell the same story on both sides', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    const photos = await photoTree(src);
    await writeFile(join(src, 'notes.txt'), 'hello');
    const receiver = runCli(['receive', '--listen', '0', '--dir', dst, '--key', alice, '--yes', '--json'], { home });
    const { port } = await receiver.nextEvent('listening');
    const sender = runCli(['send', photos, join(src, 'notes.txt'), '--to', `127.0.0.1:${port}`, '--key', bob, '--json'], { home });
    assert.equal(await sender.exited, 0, sender.text());
    assert.equal(await receiver.exited, 0, receiver.text());

    assert.deepEqual(await tree(dst), ['notes.txt', 'photos', 'photos/2026', 'photos/2026/march', 'photos/2026/march/c.jpg', 'photos/a.jpg', 'photos/b.jpg']);
    for (const name of ['photos/a.jpg', 'photos/b.jpg', 'photos/2026/march/c.jpg', 'notes.txt']) {
      assert.equal(await sha256(join(dst, name)), await sha256(join(src, name)), name);
    }
    const [offer] = eventsNamed(receiver.events, 'offer');
    assert.deepEqual(offer, {
      event: 'offer',
      files: [
        { name: 'photos/2026/march/c.jpg', size: 5000 },
        { name: 'photos/a.jpg', size: 1000 },
        { name: 'photos/b.jpg', size: 3_000_000 },
        { name: 'notes.txt', size: 5 },
      ],
      folders: ['photos', 'photos/2026', 'photos/2026/march'],
      count: 4,
      total: 3_006_005,
    });
    const done = { event: 'done', files: 4, bytes: 3_006_005, resumedBytes: 0 };
    assert.deepEqual(eventsNamed(receiver.events, 'done'), [done]);
    assert.deepEqual(eventsNamed(sender.events, 'done'), [done]);
    const hashes = (events: CliEvent[]) => eventsNamed(events, 'file').map((file) => [file.name, file.sha256]);
    assert.deepEqual(hashes(receiver.events), hashes(sender.events));
    const [peerSeenBySender, peerSeenByReceiver] = [sender, receiver].map((side) => eventsNamed(side.events, 'peer')[0]!);
    assert.equal(peerSeenBySender!.fingerprint, aliceFp);
    assert.equal(peerSeenByReceiver!.fingerprint, bobFp);
    assert.equal(peerSeenBySender!.code, peerSeenByReceiver!.code);
    const progress = eventsNamed(receiver.events, 'progress');
    assert.ok(progress.length > 0);
    assert.equal(progress.at(-1)!.bytes, 3_006_005);
  });

  it('the other way round: the sender listens (pinning the receiver) and the receiver dials (pinning the sender)', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    const photos = await photoTree(src);
    const sender = runCli(['send', photos, '--listen', '0', '--key', alice, '--pin', bobFp, '--json'], { home });
    const { port } = await sender.nextEvent('listening');
    const receiver = runCli(['receive', '--from', `127.0.0.1:${port}`, '--dir', dst, '--key', bob, '--pin', aliceFp, '--json'], { home });
    assert.equal(await receiver.exited, 0, receiver.text());
    assert.equal(await sender.exited, 0, sender.text());
    assert.deepEqual(await tree(dst), ['photos', 'photos/2026', 'photos/2026/march', 'photos/2026/march/c.jpg', 'photos/a.jpg', 'photos/b.jpg']);
    assert.equal(await sha256(join(dst, 'photos/b.jpg')), await sha256(join(photos, 'b.jpg')));
  });

  it('resumes after the sending process is killed mid-transfer: equal SHA-256, and what had arrived is not sent again', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    const big = join(src, 'big.bin');
    const size = 96 << 20;
    await randomFile(big, size);
    const receiver = runCli(['receive', '--listen', '0', '--dir', dst, '--key', alice, '--yes', '--json'], { home });
    const { port } = await receiver.nextEvent('listening');
    const sender = runCli(['send', big, '--to', `127.0.0.1:${port}`, '--key', bob, '--json'], { home });
    await receiver.nextEvent('progress');
    // Stopping the receiver stops the flow (the sender may only send what the receiver granted), so the kill lands mid-file.
    receiver.child.kill('SIGSTOP');
    sender.child.kill('SIGKILL');
    assert.equal(await sender.exited, 'SIGKILL');
    receiver.child.kill('SIGCONT');
    assert.equal(await receiver.exited, 5, receiver.text());
    assert.match(receiver.text(), /\(ERR_TRUNCATED\)$/m);
    const [partialName] = (await readdir(dst)).filter((name) => name.includes('netcrypt-partial'));
    assert.ok(partialName, 'the partial file is kept for the next attempt');
    const held = (await stat(join(dst, partialName))).size;
    assert.ok(held > 0 && held < size, `partial holds ${held} bytes`);

    const again = runCli(['receive', '--listen', '0', '--dir', dst, '--key', alice, '--yes', '--json'], { home });
    const { port: port2 } = await again.nextEvent('listening');
    const resend = runCli(['send', big, '--to', `127.0.0.1:${port2}`, '--key', bob, '--json'], { home });
    assert.equal(await resend.exited, 0, resend.text());
    assert.equal(await again.exited, 0, again.text());
    assert.equal(await sha256(join(dst, 'big.bin')), await sha256(big));
    const [sent] = eventsNamed(resend.events, 'file');
    const [received] = eventsNamed(again.events, 'file');
    assert.equal(sent!.resumedFrom, held, 'the sender started after the bytes already received');
    assert.equal(received!.resumedFrom, held);
    assert.deepEqual(eventsNamed(again.events, 'done'), [{ event: 'done', files: 1, bytes: size, resumedBytes: held }]);
    assert.deepEqual((await readdir(dst)).sort(), ['big.bin']);
  });

  it('a hostile sender naming paths outside --dir is refused before anything is written: ERR_BAD_FILENAME, exit code 4', async () => {
    const outside = await folder('outside');
    const dst = join(outside, 'inbox');
    await mkdir(dst);
    const receiver = runCli(['receive', '--listen', '0', '--dir', dst, '--key', alice, '--yes', '--json'], { home });
    const port = (await receiver.nextEvent('listening')).port as number;
    const channel = await connect({ port, identity: loadIdentity(bob), pin: aliceFp });
    const hostile = new RawSender(channel);
    await hostile.manifest([fileEntry(['..', 'escaped.txt'], 5)]);
    const verdict = await hostile.reply();
    assert.equal(verdict.t, 'receive-failed');
    assert.equal((verdict as { code: string }).code, 'ERR_BAD_FILENAME');
    channel.destroy();
    assert.equal(await receiver.exited, 4, receiver.text());
    assert.match(receiver.text(), /^netcrypt: .*\(ERR_BAD_FILENAME\)$/m);
    assert.deepEqual(await tree(outside), ['inbox']);
    assert.deepEqual(eventsNamed(receiver.events, 'offer'), [], 'a bad name never reaches the offer');
    const [failure] = eventsNamed(receiver.events, 'error');
    assert.equal(failure!.code, 'ERR_BAD_FILENAME');
    assert.equal(failure!.exitCode, 4);
    assert.equal(failure!.origin, 'local');
  });

  it('a receiver dialling a sender whose key changed refuses it: both fingerprints, exit code 3, nothing written', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeFile(join(src, 'x.txt'), 'x');
    const knownHosts = join(dir, 'known_hosts_transfer');
    const honest = runCli(['send', join(src, 'x.txt'), '--listen', '0', '--key', alice, '--yes', '--json'], { home });
    const { port } = await honest.nextEvent('listening');
    const first = runCli(['receive', '--from', `127.0.0.1:${port}`, '--dir', dst, '--key', bob, '--yes', '--known-hosts', knownHosts], { home });
    assert.equal(await first.exited, 0, first.text());
    assert.equal(await honest.exited, 0, honest.text());
    const other = await folder('dst');
    const impostor = runCli(['send', join(src, 'x.txt'), '--listen', String(port), '--key', keys[2], '--yes', '--json'], { home });
    await impostor.nextEvent('listening');
    const refused = runCli(['receive', '--from', `127.0.0.1:${port}`, '--dir', other, '--key', bob, '--yes', '--known-hosts', knownHosts], { home });
    assert.equal(await refused.exited, 3);
    assert.match(refused.text(), new RegExp(`presented ${escape(await fingerprintOf(keys[2]))}.*${escape(aliceFp)}.*\\(ERR_PEER_KEY_MISMATCH\\)$`, 'm'));
    assert.deepEqual(await tree(other), []);
    impostor.child.kill('SIGKILL');
  });

  it('receive --listen --keep takes one transfer after another until interrupted', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeFile(join(src, 'first.txt'), 'one');
    await writeFile(join(src, 'second.txt'), 'two');
    const receiver = runCli(['receive', '--listen', '0', '--keep', '--dir', dst, '--key', alice, '--yes', '--json'], { home });
    const { port } = await receiver.nextEvent('listening');
    for (const name of ['first.txt', 'second.txt']) {
      const sender = runCli(['send', join(src, name), '--to', `127.0.0.1:${port}`, '--key', bob, '--json'], { home });
      assert.equal(await sender.exited, 0, sender.text());
    }
    await receiver.nextEvent('done', 2);
    assert.deepEqual(await tree(dst), ['first.txt', 'second.txt']);
    receiver.child.kill('SIGINT');
    assert.equal(await receiver.exited, 130);
  });

  it('a --dir that is not there fails before listening: one line, exit 1', async () => {
    const receiver = runCli(['receive', '--listen', '0', '--dir', join(dir, 'no-such-folder'), '--key', alice, '--yes', '--json'], { home });
    assert.equal(await receiver.exited, 1);
    assert.match(receiver.text(), /^netcrypt: cannot use --dir .*no-such-folder.*\(ERR_FILE_IO\)$/m);
    assert.deepEqual(eventsNamed(receiver.events, 'listening'), []);
  });

  it('--quiet prints nothing on success, on either side', async () => {
    const [src, dst] = [await folder('src'), await folder('dst')];
    await writeFile(join(src, 'quiet.txt'), 'shh');
    const sender = runCli(['send', join(src, 'quiet.txt'), '--listen', '0', '--key', alice, '--yes', '--json'], { home });
    const { port } = await sender.nextEvent('listening');
    const receiver = runCli(['receive', '--from', `127.0.0.1:${port}`, '--dir', dst, '--key', bob, '--yes', '--quiet'], { home });
    assert.equal(await receiver.exited, 0);
    assert.equal(receiver.text(), '');
    assert.equal(await sender.exited, 0);
    assert.deepEqual(await tree(dst), ['quiet.txt']);
  });

  it('usage errors exit 2 with one line: no terminal and neither --pin nor --yes, both sides chosen, neither chosen', async () => {
    const cases = [
      ['receive', '--listen', '0'],
      ['send', 'x', '--listen', '0'],
      ['receive', '--from', '127.0.0.1:1', '--listen', '0', '--yes'],
      ['send', 'x'],
      ['send', 'x', '--to', 'no-port'],
      ['receive', '--no-such-option'],
    ];
    for (const args of cases) {
      const run = runCli(args, { home, stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(await run.exited, 2, `${args.join(' ')}: ${run.text()}`);
      assert.doesNotMatch(run.text(), /\n\s+at /);
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

async function fingerprintOf(key: string): Promise<string> {
  return (await loadIdentity(key)).fingerprint;
}
