/** Trust on first use over a real known-hosts file. */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
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

describe('KnownHosts paths', () => {
  it('expands ~ to the home folder, and true is ~/.netcrypt/known_hosts, created 0700', async (t) => {
    const home = await mkdtemp(join(tmpdir(), 'netcrypt-home-'));
    t.after(() => rm(home, { recursive: true, force: true }));
    const previous = process.env.HOME;
    process.env.HOME = home;
    t.after(() => {
      process.env.HOME = previous;
    });
    const byTilde = await KnownHosts.open('~/.netcrypt/known_hosts');
    const byTrue = await KnownHosts.open(true);
    assert.equal(byTilde.path, join(home, '.netcrypt', 'known_hosts'));
    assert.equal(byTrue, byTilde, 'one store per file in the process');
    const stored = newFingerprint();
    assert.equal(await byTrue.verify('peer:1', stored), 'added');
    assert.equal((await stat(join(home, '.netcrypt'))).mode & 0o777, 0o700);
    assert.equal(await readFile(join(home, '.netcrypt', 'known_hosts'), 'utf8'), `peer:1 ${stored}\n`);
    await assert.rejects(stat(join(process.cwd(), '~')), { code: 'ENOENT' });
    // The mismatch message names the real file, not '~/…'.
    await assert.rejects(byTilde.lookup('peer:1', newFingerprint()), (error: unknown) => {
      assert.ok(isNetcryptError(error, 'ERR_PEER_KEY_MISMATCH'));
      assert.ok(error.message.includes(`${join(home, '.netcrypt', 'known_hosts')}:1`), error.message);
      assert.ok(!error.message.includes('~'), error.message);
      return true;
    });
  });

  it('lookup() reports new or known and records nothing; a changed file is read again', async () => {
    const path = join(dir, 'lookup');
    const store = await KnownHosts.open(path);
    const fp = newFingerprint();
    assert.equal(await store.lookup('peer', fp), 'new');
    await assert.rejects(stat(path), { code: 'ENOENT' });
    await writeFile(path, `peer ${fp}\n`);
    assert.equal(await store.lookup('peer', fp), 'known');
    // Same length, other key: the cache is keyed by size and mtime, and must not serve the old parse.
    const other = newFingerprint();
    await writeFile(path, `peer ${other}\n`);
    await assert.rejects(store.lookup('peer', fp), code('ERR_PEER_KEY_MISMATCH'));
    assert.equal(await store.lookup('peer', other), 'known');
  });
});

describe('KnownHosts races', () => {
  it('two stores of one file, racing first contacts of one peer with different keys: one key is recorded, the other refused', async () => {
    const path = join(dir, 'race-in-process');
    const [a, b] = await Promise.all([KnownHosts.open(path), KnownHosts.open(path)]);
    const [first, second] = [newFingerprint(), newFingerprint()];
    // Both look first (as connect() does before asking the application), then both record.
    assert.deepEqual(await Promise.all([a.lookup('bank:443', first), b.lookup('bank:443', second)]), ['new', 'new']);
    const results = await Promise.allSettled([a.verify('bank:443', first), b.verify('bank:443', second)]);
    assert.deepEqual(results[0], { status: 'fulfilled', value: 'added' });
    assert.equal(results[1].status, 'rejected');
    assert.ok(isNetcryptError((results[1] as PromiseRejectedResult).reason, 'ERR_PEER_KEY_MISMATCH'));
    assert.equal(await readFile(path, 'utf8'), `bank:443 ${first}\n`);
  });

  it('two processes racing first contacts of the same peers: each peer gets exactly one key, the other process is refused', async () => {
    const path = join(dir, 'race-processes');
    const count = 200;
    const fingerprints = [newFingerprint(), newFingerprint()];
    const racers = fingerprints.map((fp) =>
      spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'known-hosts-racer.ts'), path, fp, String(count)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    const outputs = racers.map((child) => {
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      return {
        ready: new Promise<void>((resolve) => child.stdout.on('data', () => text.startsWith('ready\n') && resolve())),
        done: once(child, 'exit').then(([status]) => ({ status, lines: text.split('\n').slice(1, -1) })),
      };
    });
    await Promise.all(outputs.map((output) => output.ready));
    for (const child of racers) child.stdin.write('go\n');
    const results = await Promise.all(outputs.map((output) => output.done));
    for (const { status } of results) assert.equal(status, 0);
    const perProcess = results.map(({ lines }) => lines.map((line) => JSON.parse(line) as { peer: string; result: string }));
    const recorded = new Map((await readFile(path, 'utf8')).trimEnd().split('\n').map((line) => line.split(' ') as [string, string]));
    assert.equal(recorded.size, count, 'one line per peer');
    assert.equal((await readFile(path, 'utf8')).trimEnd().split('\n').length, count, 'no second line for any peer');
    for (let i = 0; i < count; i++) {
      const outcomes = perProcess.map((entries) => entries[i]!.result);
      const winner = outcomes.indexOf('added');
      assert.ok(winner !== -1, `host-${i}: someone recorded it`);
      assert.equal(outcomes[1 - winner], 'ERR_PEER_KEY_MISMATCH', `host-${i}: the other process is refused`);
      assert.equal(recorded.get(`host-${i}:443`), fingerprints[winner]);
    }
    await assert.rejects(stat(`${path}.lock`), { code: 'ENOENT' }, 'the lock is released');
  });

  it('a lock left by a process that no longer exists is taken over', async () => {
    const path = join(dir, 'stale-lock');
    const dead = spawn(process.execPath, ['-e', '']);
    await once(dead, 'exit');
    await writeFile(`${path}.lock`, `${dead.pid}\n`);
    const fp = newFingerprint();
    assert.equal(await (await KnownHosts.open(path)).verify('peer', fp), 'added');
    await assert.rejects(stat(`${path}.lock`), { code: 'ENOENT' });
  });
});
