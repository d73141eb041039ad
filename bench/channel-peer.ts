/**
 * The receiving side of bench/channel.ts, in its own process so sender and
 * receiver each have a core: a server for one mode that reads everything it
 * is sent and, when the client ends, answers with its byte and message count
 * and CPU time. Prints its port on stdout.
 */

import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { BackendChoice } from '../src/backend/index.ts';
import { identityFromPrivateKey } from '../src/keys/identity.ts';
import { createServer } from '../src/protocol/connect.ts';

const [mode, backend, keyFile, certFile] = process.argv.slice(2) as [string, BackendChoice, string, string?];

/** CPU time since `since` (a process.cpuUsage() taken when the connection's data started). */
function cpuMsSince(since: NodeJS.CpuUsage): number {
  const cpu = process.cpuUsage(since);
  return (cpu.user + cpu.system) / 1000;
}

let server: net.Server;
if (mode === 'tcp' || mode === 'tls') {
  const onSocket = (socket: net.Socket) => {
    let bytes = 0;
    const since = process.cpuUsage();
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('end', () => {
      socket.end(JSON.stringify({ bytes, messages: 0, cpuMs: cpuMsSince(since) }));
    });
  };
  server =
    mode === 'tcp'
      ? net.createServer({ allowHalfOpen: true }, onSocket)
      : tls.createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile!), minVersion: 'TLSv1.3', allowHalfOpen: true }, onSocket);
} else {
  server = createServer({ identity: identityFromPrivateKey(readFileSync(keyFile, 'utf8')), backend }, async (channel) => {
    let bytes = 0;
    let messages = 0;
    const since = process.cpuUsage();
    try {
      for await (const message of channel) {
        if (message.length === 3 && message.toString() === 'end') {
          await channel.send(JSON.stringify({ bytes, messages, cpuMs: cpuMsSince(since) }));
          continue;
        }
        bytes += message.length;
        messages++;
      }
      await channel.close();
    } catch {
      // handshake-only connections end abruptly; nothing to report
    }
  });
}
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
