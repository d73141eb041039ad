/**
 * `netcrypt receive` at a real terminal: run under tmux, which gives it a
 * terminal for stdin and stderr, answered with send-keys and read with
 * capture-pane — the question before anything is written, and the progress bars.
 */

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { CLI, cliWorkspace, runCli } from './helpers/cli.ts';

const hasTmux = (() => {
  try {
    execFileSync('tmux', ['-V']);
    return true;
  } catch {
    return false;
  }
})();

const { dir, home, keys } = await cliWorkspace();
const [alice, bob] = keys;
// A server of our own, on a socket in a folder of our own, so the test never touches anyone else's tmux sessions and leaves nothing behind.
const socketDir = await mkdtemp(join(tmpdir(), 'netcrypt-tmux-'));
const SOCKET = join(socketDir, 'tmux.sock');
const tmux = (...args: string[]) => promisify(execFile)('tmux', ['-S', SOCKET, ...args], { encoding: 'utf8' });
after(async () => {
  await tmux('kill-server').catch(() => {});
  await rm(socketDir, { recursive: true, force: true });
});

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** Starts `netcrypt <args>` in a tmux window of 200×40; the shell prints EXIT=<code> when it ends and keeps the window. */
async function inTerminal(name: string, args: string[]): Promise<void> {
  const command = [process.execPath, '--import', import.meta.resolve('tsx'), CLI, ...args].map(quote).join(' ');
  await tmux('new-session', '-d', '-s', name, '-x', '200', '-y', '40', '-e', `HOME=${home}`, `sh -c ${quote(`${command}; echo EXIT=$?; sleep 600`)}`);
}

async function screen(name: string): Promise<string> {
  return (await tmux('capture-pane', '-p', '-t', name)).stdout;
}

/** Polls the screen until `pattern` shows (tmux has no event to wait on); the test's own timeout bounds it. */
async function waitForScreen(name: string, pattern: RegExp): Promise<RegExpMatchArray> {
  for (;;) {
    const match = (await screen(name)).match(pattern);
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('netcrypt receive at a terminal', { timeout: 180_000, skip: !hasTmux && 'tmux is not installed (scripts/setup-debian.sh installs it)' }, () => {
  it('asks before writing, and after a y shows per-file and overall progress bars, a line per file, and the summary', async () => {
    const [src, dst] = [join(dir, 'src'), join(dir, 'dst')];
    await mkdir(join(src, 'album'), { recursive: true });
    await mkdir(dst);
    await writeFile(join(src, 'album', 'one.bin'), randomBytes(12 << 20));
    await writeFile(join(src, 'album', 'two.bin'), randomBytes(1000));
    await inTerminal('yes', ['receive', '--listen', '0', '--dir', dst, '--key', alice]);
    const [, port] = await waitForScreen('yes', /listening on port (\d+)/);
    const sender = runCli(['send', join(src, 'album'), '--to', `127.0.0.1:${port}`, '--key', bob, '--json'], { home });
    const question = await waitForScreen('yes', /^Receive .* y\/n$/m);
    assert.match(question[0], /^Receive 2 files in 1 folder \(13 MB\) from SHA256:[A-Za-z0-9+/]{43} \(code \d{5} \d{5} \d{5}\)\? y\/n$/);
    assert.deepEqual(await readdir(dst), [], 'nothing is written before the answer');
    await tmux('send-keys', '-t', 'yes', 'y', 'Enter');
    await waitForScreen('yes', /EXIT=\d+/);
    assert.equal(await sender.exited, 0, sender.text());
    const text = await screen('yes');
    assert.match(text, /EXIT=0/, text);
    assert.match(text, /^ {2}album\/one\.bin \(13 MB\)$/m, 'the offer lists the files');
    assert.match(text, /✓ album\/one\.bin \(13 MB\)/);
    assert.match(text, /✓ album\/two\.bin \(1\.0 kB\)/);
    // The two bars at their end: the last file, and the whole transfer with its rate.
    assert.match(text, /^album\/two\.bin +█+ 100% \| 1\.0 kB of 1\.0 kB/m, text);
    assert.match(text, /^total +█+ 100% \| 13 MB of 13 MB \| [\d.]+ [kMG]?B\/s/m, text);
    assert.match(text, /received 2 files \(13 MB\), SHA-256 verified/);
    const sent = createHash('sha256').update(await readFile(join(src, 'album', 'one.bin'))).digest('hex');
    assert.equal(createHash('sha256').update(await readFile(join(dst, 'album', 'one.bin'))).digest('hex'), sent);
  });

  it('an n refuses the offer: nothing is written, and both sides exit 3 with ERR_FILE_REFUSED', async () => {
    const [src, dst] = [join(dir, 'src-n'), join(dir, 'dst-n')];
    await mkdir(src);
    await mkdir(dst);
    await writeFile(join(src, 'unwanted.txt'), 'no thanks');
    await inTerminal('no', ['receive', '--listen', '0', '--dir', dst, '--key', alice]);
    const [, port] = await waitForScreen('no', /listening on port (\d+)/);
    const sender = runCli(['send', join(src, 'unwanted.txt'), '--to', `127.0.0.1:${port}`, '--key', bob], { home });
    await waitForScreen('no', /^Receive unwanted\.txt \(9 B\) from .* y\/n$/m);
    await tmux('send-keys', '-t', 'no', 'n', 'Enter');
    await waitForScreen('no', /EXIT=\d+/);
    const text = await screen('no');
    assert.match(text, /^netcrypt: .*declined.*\(ERR_FILE_REFUSED\)$/m, text);
    assert.match(text, /EXIT=3/);
    assert.equal(await sender.exited, 3);
    assert.match(sender.text(), /^netcrypt: the peer reports: .*\(ERR_FILE_REFUSED\)$/m);
    assert.deepEqual(await readdir(dst), []);
  });

  it('a listening sender asks before its files go to the key that connected', async () => {
    const [src, dst] = [join(dir, 'src-send'), join(dir, 'dst-send')];
    await mkdir(src);
    await mkdir(dst);
    await writeFile(join(src, 'for-bob.txt'), 'only after a y');
    await inTerminal('send', ['send', join(src, 'for-bob.txt'), '--listen', '0', '--key', alice]);
    const [, port] = await waitForScreen('send', /listening on port (\d+)/);
    const receiver = runCli(['receive', '--from', `127.0.0.1:${port}`, '--dir', dst, '--key', bob, '--yes', '--json'], { home });
    const { code } = await receiver.nextEvent('peer');
    const [question] = await waitForScreen('send', /^Send to .* y\/n$/m);
    assert.equal(question, `Send to ${(await receiver.nextEvent('identity')).fingerprint} (code ${code})? y/n`);
    assert.deepEqual(await readdir(dst), []);
    await tmux('send-keys', '-t', 'send', 'y', 'Enter');
    assert.equal(await receiver.exited, 0, receiver.text());
    await waitForScreen('send', /EXIT=0/);
    assert.equal(await readFile(join(dst, 'for-bob.txt'), 'utf8'), 'only after a y');
  });
});
