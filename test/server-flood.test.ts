/**
 * Pre-authentication work: a flood of replayed hellos with random key
 * messages, from another process at 127.0.0.1, costs the server at most
 * its per-source bucket of RSA decryptions, and an honest client at
 * 127.0.0.2 completes its handshake while the flood runs.
 */

import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import net from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadBackend } from '../src/backend/index.ts';
import { ErrorCode } from '../src/errors.ts';
import { Handshake } from '../src/handshake/handshake.ts';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve } from './helpers/net.ts';
import { ServerReports } from './helpers/server-reports.ts';

const [serverId, clientId] = await testIdentities();
const flooder = fileURLToPath(new URL('./helpers/handshake-flood.ts', import.meta.url));
const RATE = { perSecond: 20, burst: 10 };

describe('handshake flood from one source', () => {
  it('is refused by the rate limit beyond its bucket while a client from 127.0.0.2 completes its handshake', { timeout: 120_000 }, async () => {
    const since = performance.now();
    const reports = new ServerReports();
    const server = createServer({ identity: serverId, backend: 'native', handshakeRate: RATE, ...reports }, async (channel) => {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    });
    const port = await serve(server);

    // One recorded hello, replayed by every flood connection; the attacker holds no key of its own.
    const hello = new Handshake({ role: 'client', identity: clientId!, backend: await loadBackend('native') }).start()[0]!;
    const wrappedBytes = serverId!.publicKey.asymmetricKeyDetails!.modulusLength! / 8;
    const flood = fork(flooder, [String(port), Buffer.from(hello).toString('hex'), String(wrappedBytes), '20000', '30000', '16'], {
      execArgv: ['--import', 'tsx'],
    });
    const floodDone = new Promise<{ connections: number }>((resolve, reject) => {
      flood.once('message', (summary) => resolve(summary as { connections: number }));
      flood.once('exit', (code) => reject(new Error(`flood exited (${code}) without a summary`)));
    });
    // Well into the flood: its bucket has long been empty.
    const isRefusal = (r: { code: string }) => r.code === ErrorCode.RATE_LIMITED;
    await reports.next(() => reports.count(isRefusal) >= 500);

    const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = await connect({ socket, port, identity: clientId, pin: serverId!.fingerprint, backend: 'native' });
    const floodStillRunning = flood.exitCode === null && flood.connected;
    await client.send('under flood');
    assert.equal((await client.receive()).toString(), 'under flood');
    await client.close();
    flood.send('stop');
    const { connections } = await floodDone;
    const elapsedS = (performance.now() - since) / 1000;

    assert.ok(floodStillRunning, 'the honest handshake completed while the flood ran');
    const refused = reports.count((r) => isRefusal(r) && r.who === '127.0.0.1');
    // Each flood connection let through costs one RSA decryption and ends in ERR_AUTH; the bucket bounds them.
    const decrypted = reports.count((r) => r.code === ErrorCode.AUTH && r.who === '127.0.0.1');
    assert.ok(refused >= 500 && refused <= connections, `${refused} of ${connections} flood connections refused`);
    assert.ok(decrypted > 0 && decrypted <= RATE.burst + RATE.perSecond * elapsedS, `${decrypted} decryptions in ${elapsedS.toFixed(1)} s`);
    assert.equal(reports.count((r) => r.who === '127.0.0.2'), 0);
  });
});
