/**
 * The receiving side of bench/channel.ts, in its own process so sender and
 * receiver each have a core: a server for one mode that reads everything it
 * is sent and, when the client ends, answers with its byte and message count
 * and the CPU time since the connection's first data. Prints its port on
 * stdout. On stdin, `mark` starts a CPU measurement, `cpu` prints the CPU
 * milliseconds since (for the handshake and request rows), and
 * `connections` the TCP connections accepted so far.
 *
 *   tcp, tls, mtls     raw TCP, node:tls TLS 1.3 (mtls: a client certificate required)
 *   bare <suite>       the bare framing loop's receiver (bench/bare-records.ts)
 *   secret-stream      @hyperswarm/secret-stream over TCP
 *   https              node:https, TLS 1.3: any request gets a 1 KiB reply
 *   netcrypt <backend> a netcrypt server; requests get a 1 KiB reply
 */

import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import https from 'node:https';
import tls from 'node:tls';
import SecretStream from '@hyperswarm/secret-stream';
import type { BackendChoice } from '../src/backend/index.ts';
import { identityFromPrivateKey } from '../src/keys/identity.ts';
import type { NetcryptServer } from '../src/protocol/netcrypt-server.ts';
import { createServer } from '../src/protocol/server.ts';
import { BARE_RECORD_BYTES, BareReceiver, type BareSuite } from './bare-records.ts';
import { REPLY } from './channel-requests.ts';

/** `work` holds server-key.pem and server-cert.pem, and client-cert.pem for mode `mtls`. */
const [mode, backend, work] = process.argv.slice(2) as [string, string, string];
const pem = (name: string) => readFileSync(join(work, name));

function cpuMsSince(since: NodeJS.CpuUsage): number {
  const cpu = process.cpuUsage(since);
  return (cpu.user + cpu.system) / 1000;
}

let mark = process.cpuUsage();
let connections = 0;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'mark') mark = process.cpuUsage();
  process.stdout.write(`${line === 'cpu' ? cpuMsSince(mark) : line === 'connections' ? connections : 'ok'}\n`);
});

/** Counts what a stream delivers and, when the sender ends, answers with the count and the CPU time since the first byte. */
function countUntilEnd(stream: NodeJS.ReadableStream & NodeJS.WritableStream): void {
  let bytes = 0;
  let since: NodeJS.CpuUsage | undefined;
  stream.on('data', (chunk: Buffer) => {
    since ??= process.cpuUsage();
    bytes += chunk.length;
  });
  stream.on('end', () => stream.end(JSON.stringify({ bytes, messages: 0, cpuMs: since ? cpuMsSince(since) : 0 })));
}

let server: net.Server | NetcryptServer;
if (mode === 'bare') {
  const suite = backend as BareSuite;
  const material = readFileSync(join(work, `bare-${suite}.key`));
  server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let bytes = 0;
    let since: NodeJS.CpuUsage | undefined;
    const receiver = new BareReceiver(suite, material, BARE_RECORD_BYTES, (pieces) => {
      for (const piece of pieces) bytes += piece.length;
    });
    socket.on('data', (chunk: Buffer) => {
      since ??= process.cpuUsage();
      receiver.push(chunk);
    });
    socket.on('end', () => socket.end(JSON.stringify({ bytes, messages: 0, cpuMs: since ? cpuMsSince(since) : 0 })));
  });
} else if (mode === 'secret-stream') {
  server = net.createServer({ allowHalfOpen: true }, (socket) => countUntilEnd(new SecretStream(false, socket)));
} else if (mode === 'https') {
  const httpsServer = https.createServer({ key: pem('server-key.pem'), cert: pem('server-cert.pem'), minVersion: 'TLSv1.3' }, (request, response) => {
    request.on('data', () => {});
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': REPLY.length });
      response.end(REPLY);
    });
  });
  // node:http's flood control pauses a connection once the replies queued on it reach the socket's write high-water
  // mark (16 KiB: about 14 pipelined replies), and on a TLS socket (Node 20) the resumed parser then fails the next
  // pipelined POST with HPE_PAUSED. The server option `highWaterMark` would raise the mark but is not applied to TLS
  // sockets, so it is raised here, on each connection: 64 pipelined 1 KiB replies then fit under it.
  httpsServer.on('secureConnection', (socket: tls.TLSSocket) => {
    (socket as unknown as { _writableState: { highWaterMark: number } })._writableState.highWaterMark = 1 << 20;
  });
  server = httpsServer;
} else if (mode === 'tcp' || mode === 'tls' || mode === 'mtls') {
  const onSocket = (socket: net.Socket) => {
    socket.on('error', () => {}); // handshake-only connections are reset by the client
    countUntilEnd(socket);
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
  server = createServer({ identity: identityFromPrivateKey(pem('server-key.pem').toString()), backend: backend as BackendChoice, ...unbounded }, async (channel) => {
    channel.onRequest(() => REPLY);
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
server.on('connection', () => connections++);
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
