/**
 * The receiving side of bench/channel.ts, in its own process so sender and
 * receiver each have a core: a server for one mode that reads everything it
 * is sent and, when the client ends, answers with its byte and message count
 * and the CPU time since the connection's first data. Prints its port on
 * stdout. On stdin, `mark` starts a CPU measurement and `cpu` prints the CPU
 * milliseconds since (for the handshake rows, whose connections carry no data).
 */

import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import type { BackendChoice } from '../src/backend/index.ts';
import { identityFromPrivateKey } from '../src/keys/identity.ts';
import type { NetcryptServer } from '../src/protocol/netcrypt-server.ts';
import { createServer } from '../src/protocol/server.ts';

/** `work` holds server-key.pem and server-cert.pem, and client-cert.pem for mode `mtls`. */
const [mode, backend, work] = process.argv.slice(2) as [string, BackendChoice, string];
const pem = (name: string) => readFileSync(join(work, name));

function cpuMsSince(since: NodeJS.CpuUsage): number {
  const cpu = process.cpuUsage(since);
  return (cpu.user + cpu.system) / 1000;
}

let mark = process.cpuUsage();
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'mark') mark = process.cpuUsage();
  process.stdout.write(`${line === 'cpu' ? cpuMsSince(mark) : 'ok'}\n`);
});

let server: net.Server | NetcryptServer;
if (mode === 'tcp' || mode === 'tls' || mode === 'mtls') {
  const onSocket = (socket: net.Socket) => {
    let bytes = 0;
    let since: NodeJS.CpuUsage | undefined;
    socket.on('error', () => {}); // handshake-only connections are reset by the client
    socket.on('data', (chunk: Buffer) => {
      since ??= process.cpuUsage();
      bytes += chunk.length;
    });
    socket.on('end', () => {
      socket.end(JSON.stringify({ bytes, messages: 0, cpuMs: since ? cpuMsSince(since) : 0 }));
    });
  };
  // mtls: the client must present a certificate, as every netcrypt peer proves its key.
  const mutual = mode === 'mtls' ? { requestCert: true, rejectUnauthorized: true, ca: pem('client-cert.pem') } : {};
  server =
    mode === 'tcp'
      ? net.createServer({ allowHalfOpen: true }, onSocket)
      : tls.createServer({ key: pem('server-key.pem'), cert: pem('server-cert.pem'), minVersion: 'TLSv1.3', allowHalfOpen: true, ...mutual }, onSocket);
} else {
  // The bench's own handshake storm from one address is what the server's bounds exist to refuse: lift them.
  const unbounded = { handshakeRate: false, maxHandshakes: Infinity, maxConnections: Infinity, maxConnectionsPerSource: Infinity } as const;
  server = createServer({ identity: identityFromPrivateKey(pem('server-key.pem').toString()), backend, ...unbounded }, async (channel) => {
    let bytes = 0;
    let messages = 0;
    let since: NodeJS.CpuUsage | undefined;
    try {
      for await (const message of channel) {
        since ??= process.cpuUsage();
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
