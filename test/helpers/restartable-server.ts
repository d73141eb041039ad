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
 *   closed              a channel ended
 * Modes: `log` reads and reports every message; `stall` never reads, so a
 * client's large sends back up and stay in flight.
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
  for await (const message of channel) report(`message ${message.toString()}`);
  await channel.close();
});
server.on('connection', () => report('connection'));
server.listen(Number(portArg), '127.0.0.1', () => report(`port ${(server.address() as net.AddressInfo).port}`));
