/**
 * A channel whose transport is another process's stdin and stdout: the
 * parent joins the child's pipes into one Duplex, the child its own
 * (test/helpers/stdio-peer.ts). Messages, backpressure through the pipes,
 * and the authenticated close on both sides, between two processes.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode, NetcryptError } from '../src/errors.ts';
import { secureSocket } from '../src/protocol/connect.ts';
import { testIdentities } from './helpers/identities.ts';

const [serverId] = await testIdentities();
const script = fileURLToPath(new URL('./helpers/stdio-peer.ts', import.meta.url));

function spawnPeer() {
  const child = spawn(process.execPath, ['--import', 'tsx', script, serverId!.fingerprint], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, transport: Duplex.from({ readable: child.stdout, writable: child.stdin }) };
}

describe("a channel over a child process's stdin and stdout", () => {
  it('messages both ways, 8 MiB through the pipes, and a clean close on both sides', { timeout: 60_000 }, async () => {
    const { exited, transport } = spawnPeer();
    const channel = await secureSocket(transport, 'server', { identity: serverId, backend: 'native' });
    assert.equal(channel.transport, transport);

    await channel.send('hello, child');
    assert.equal((await channel.receive()).toString(), 'echo: hello, child');
    const big = randomBytes(8 * 1024 * 1024);
    await channel.send(big);
    const echoed = await channel.receive();
    assert.equal(echoed.subarray(0, 6).toString(), 'echo: ');
    assert.ok(echoed.subarray(6).equals(big), 'the 8 MiB message came back intact');

    const closeEvent = new Promise((resolve) => channel.once('close', resolve));
    await channel.close();
    assert.equal(await closeEvent, undefined);
    assert.equal(channel.closedCleanly, true);
    const [code] = await exited;
    assert.equal(code, 0, 'the child saw a clean close too');
  });

  it('a child killed mid-conversation is ERR_TRUNCATED for the parent', { timeout: 60_000 }, async () => {
    const { child, exited, transport } = spawnPeer();
    const channel = await secureSocket(transport, 'server', { identity: serverId, backend: 'native' });
    await channel.send('are you there?');
    assert.equal((await channel.receive()).toString(), 'echo: are you there?');
    const pending = channel.receive();
    child.kill('SIGKILL');
    await assert.rejects(pending, (error) => error instanceof NetcryptError && error.code === ErrorCode.TRUNCATED);
    assert.equal(channel.closedCleanly, false);
    await exited;
  });
});
