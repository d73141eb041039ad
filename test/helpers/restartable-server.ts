/**
 * Run as its own process by client-reconnect.test.ts: a netcrypt server the
 * test kills with SIGKILL and starts again on the same port, so the
 * reconnecting client meets a real crash and a real restart.
 *
 *   node --import tsx restartable-server.ts <port|0> <identity.pem> <mode>
 *
 * It prints one line per event on stdout, which is what the test counts:
 *   port <n>            listening
 *   connection          a TCP connection arrived (before any handshake)
 *   message <text>      an application message, as it was read
 *   request <text>      a request, as its handler started
 *   closed              a channel ended
 * Modes: `log` reports every message and answers every request with
 * "reply <text>" (a request "fail" makes its handler throw); `hold-odd`
 * answers requests ending in an even digit and never the others, so they
 * are in flight when the process dies; `stall` never reads, so a client's
 * large sends back up and stay in flight.
 */

import net from 'node:net';
import { loadIdentity } from '../../src/keys/identity.ts';
import { createServer } from '../../src/protocol/server.ts';

const [portArg, identityPath, mode] = process.argv.slice(2) as [string, string, string];
const identity = await loadIdentity(identityPath);
const report = (line: string): void => void process.stdout.write(`${line}\n`);

const server = createServer({ identity, handshakeRate: false }, async (channel) => {
  channel.once('close', () => report('closed'));
  if (mode === 'stall') return new Promise<void>(() => {});
  channel.onRequest((data) => {
    const text = data.toString();
    report(`request ${text}`);
    if (text === 'fail') throw Object.assign(new Error('asked to fail'), { code: 'E_ASKED' });
    if (mode === 'hold-odd' && Number(text.at(-1)) % 2 === 1) return new Promise<string>(() => {});
    return `reply ${text}`;
  });
  for await (const message of channel) report(`message ${message.toString()}`);
  await channel.close();
});
server.on('connection', () => report('connection'));
server.listen(Number(portArg), '127.0.0.1', () => report(`port ${(server.address() as net.AddressInfo).port}`));
