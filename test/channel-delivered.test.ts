/**
 * "Done" means delivered: a call that reports completion has put what the
 * peer needs on the wire first. Each test runs the other side in its own
 * process, which exits the moment its call resolves; this side's call must
 * still complete, never see ERR_TRUNCATED.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Channel } from '../src/protocol/channel.ts';
import { createServer } from '../src/protocol/server.ts';
import { ServerProtocol } from '../src/protocol/seed-protocol.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve } from './helpers/net.ts';

const [serverId] = await testIdentities();
const script = fileURLToPath(new URL('./helpers/exit-after.ts', import.meta.url));

/** Runs the helper to its exit; resolves with its stdout and exit code. */
function run(...args: string[]): Promise<{ stdout: string; code: number | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ stdout, code })));
}

describe('done means delivered, between processes', () => {
  it('close(): the peer that exits as soon as its close() resolves has still closed cleanly for us', async () => {
    let settled!: (outcome: { cleanly: boolean; closeEvent: unknown }) => void;
    const outcome = new Promise<{ cleanly: boolean; closeEvent: unknown }>((resolve) => (settled = resolve));
    const server = createServer({ identity: serverId }, async (channel: Channel) => {
      let closeEvent: unknown = 'not emitted';
      channel.once('close', (error) => (closeEvent = error));
      for (let i = 0; i < 100; i++) await channel.send(`message ${i}`);
      await channel.close();
      settled({ cleanly: channel.closedCleanly, closeEvent });
    });
    const child = run('close', String(await serve(server)), serverId!.fingerprint);
    assert.deepEqual(await outcome, { cleanly: true, closeEvent: undefined });
    const { stdout, code } = await child;
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), { received: 100 });
  });

  async function seedServer(): Promise<{ port: number; conn: Promise<net.Socket> }> {
    let accepted!: (socket: net.Socket) => void;
    const conn = new Promise<net.Socket>((resolve) => (accepted = resolve));
    const port = await serve(net.createServer((socket) => accepted(socket)));
    return { port, conn };
  }

  it('seed API: a reply sent with sendCryptoStream() by a process that then exits at once arrives', async () => {
    const { port, conn } = await seedServer();
    const child = run('seed-send', String(port));
    const socket = await conn;
    const server = new ServerProtocol({ keyPair: serverId });
    server.setPublicKey(await server.publicKeyExchange(socket));
    await server.sendCryptoStream(socket, 'welcome');
    assert.equal((await server.recvCryptoStream(socket)).toString(), 'reply to welcome');
    assert.equal((await child).code, 0);
  });

  it('seed API: close(socket) on both sides is a clean close even when the peer exits right after its close()', async () => {
    const { port, conn } = await seedServer();
    const child = run('seed-close', String(port));
    const socket = await conn;
    const server = new ServerProtocol({ keyPair: serverId });
    server.setPublicKey(await server.publicKeyExchange(socket));
    await server.sendCryptoStream(socket, 'welcome');
    await server.close(socket);
    assert.equal(server.channel(socket).closedCleanly, true);
    assert.equal((await child).code, 0);
  });
});
