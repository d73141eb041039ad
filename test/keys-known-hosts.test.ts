/** Trust on first use over a real known-hosts file. */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isNetcryptError } from '../src/errors.ts';
import { KnownHosts } from '../src/keys/known-hosts.ts';

const code = (expected: string) => (error: unknown) => isNetcryptError(error) && error.code === expected;
const newFingerprint = () => `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netcrypt-known-hosts-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('KnownHosts', () => {
  it('adds an unknown peer, creating the folder and a 0600 file, then knows it', async () => {
    const path = join(dir, 'new', 'nested', 'known_hosts');
    const store = await KnownHosts.open(path);
    const fp = newFingerprint();
    assert.equal(await store.verify('example.org:7000', fp), 'added');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'new'))).mode & 0o777, 0o700);
    assert.equal(await readFile(path, 'utf8'), `example.org:7000 ${fp}\n`);
    assert.equal(await store.verify('example.org:7000', fp), 'known');
    assert.equal(await (await KnownHosts.open(path)).verify('example.org:7000', fp), 'known');
  });

  it('a changed key is a hard error naming the peer, both fingerprints and the line to edit', async () => {
    const path = join(dir, 'mismatch');
    await writeFile(path, '# my peers\n\nother:1 ' + newFingerprint() + '\n');
    const store = await KnownHosts.open(path);
    const stored = newFingerprint();
    const presented = newFingerprint();
    assert.equal(await store.verify('[::1]:7000', stored), 'added');
    await assert.rejects(store.verify('[::1]:7000', presented), (error: unknown) => {
      assert.ok(isNetcryptError(error, 'ERR_PEER_KEY_MISMATCH'));
      for (const part of ['[::1]:7000', stored, presented, `${path}:4`]) assert.ok(error.message.includes(part), part);
      return true;
    });
    // Still a mismatch after the failure: nothing was recorded.
    await assert.rejects(store.verify('[::1]:7000', presented), code('ERR_PEER_KEY_MISMATCH'));
    assert.equal((await readFile(path, 'utf8')).split('\n').length, 5);
  });

  it('rereads the file, so deleting the line as the error says lets the new key in', async () => {
    const path = join(dir, 'edited');
    const store = await KnownHosts.open(path);
    await store.verify('peer', newFingerprint());
    const replacement = newFingerprint();
    await assert.rejects(store.verify('peer', replacement), code('ERR_PEER_KEY_MISMATCH'));
    await writeFile(path, '');
    assert.equal(await store.verify('peer', replacement), 'added');
    assert.equal(await store.verify('peer', replacement), 'known');
  });

  it('accepts any of several lines for one peer and ignores comments, blank lines and CRLF', async () => {
    const path = join(dir, 'several');
    const [a, b] = [newFingerprint(), newFingerprint()];
    await writeFile(path, `  # comment\r\npeer ${a}\r\n\r\n   \npeer\t${b}  \r\n`);
    const store = await KnownHosts.open(path);
    assert.equal(await store.verify('peer', a), 'known');
    assert.equal(await store.verify('peer', b), 'known');
  });

  it('appends on a new line when the file does not end with one', async () => {
    const path = join(dir, 'no-newline');
    const first = `first ${newFingerprint()}`;
    await writeFile(path, first);
    const fp = newFingerprint();
    assert.equal(await (await KnownHosts.open(path)).verify('second', fp), 'added');
    assert.equal(await readFile(path, 'utf8'), `${first}\nsecond ${fp}\n`);
  });

  it('a malformed line is ERR_BAD_KEY naming the file and line', async () => {
    const good = `peer ${newFingerprint()}`;
    const cases = [
      'peer-without-fingerprint',
      `peer ${newFingerprint()} extra`,
      'peer SHA256:tooshort',
      `peer ${newFingerprint().replace('SHA256', 'MD5')}`,
      `peer ${newFingerprint()}=`,
    ];
    for (const [index, bad] of cases.entries()) {
      const path = join(dir, `malformed-${index}`);
      await writeFile(path, `# header\n${good}\n${bad}\n`);
      await assert.rejects(KnownHosts.open(path), (error: unknown) => {
        assert.ok(isNetcryptError(error, 'ERR_BAD_KEY'), bad);
        assert.ok(error.message.includes(`${path}:3`), error.message);
        return true;
      });
    }
  });

  it('validates the peer id and the fingerprint', async () => {
    const store = await KnownHosts.open(join(dir, 'validation'));
    const fp = newFingerprint();
    for (const peerId of ['', 'a b', 'a\nb', 'a\tb', '#peer', 'nul\0', 'x'.repeat(256)]) {
      await assert.rejects(store.verify(peerId, fp), code('ERR_INVALID_ARGUMENT'), JSON.stringify(peerId));
    }
    assert.equal(await store.verify('x'.repeat(255), fp), 'added');
    for (const bad of ['', 'SHA256:', fp.slice(0, -1), `${fp}\nevil ${fp}`, `${fp} `]) {
      await assert.rejects(store.verify('peer', bad), code('ERR_INVALID_ARGUMENT'), JSON.stringify(bad));
    }
    assert.equal((await readFile(join(dir, 'validation'), 'utf8')).trim().split('\n').length, 1);
  });

  it('concurrent verifies of different peers all land, and of one peer add it once', async () => {
    const path = join(dir, 'concurrent');
    const store = await KnownHosts.open(path);
    const peers = Array.from({ length: 25 }, (_, i) => [`host-${i}:7000`, newFingerprint()] as const);
    const results = await Promise.all(peers.map(([peer, fp]) => store.verify(peer, fp)));
    assert.deepEqual(results, peers.map(() => 'added'));
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    assert.deepEqual(lines.sort(), peers.map(([peer, fp]) => `${peer} ${fp}`).sort());
    const reopened = await KnownHosts.open(path);
    assert.deepEqual(await Promise.all(peers.map(([peer, fp]) => reopened.verify(peer, fp))), peers.map(() => 'known'));

    const fp = newFingerprint();
    const same = await Promise.all([store.verify('same', fp), store.verify('same', fp), store.verify('same', fp)]);
    assert.deepEqual(same, ['added', 'known', 'known']);
    // A failing verify does not stall the ones queued behind it.
    const mixed = await Promise.allSettled([store.verify('same', newFingerprint()), store.verify('later', fp)]);
    assert.equal(mixed[0].status, 'rejected');
    assert.deepEqual(mixed[1], { status: 'fulfilled', value: 'added' });
  });
});
