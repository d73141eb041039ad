/**
 * A handshake flood, run as its own process: it replays one recorded client
 * hello followed by a key message of random `wrapped` bytes, as fast as it
 * can over up to `concurrency` connections from 127.0.0.1 — no cryptography
 * on its side, an RSA decryption on the server's for each one let through.
 * It stops after `maxConnections` connections, after `maxMs`, or when its
 * parent sends 'stop', whichever comes first, and reports
 * { connections, elapsedMs } to its parent.
 *
 * Usage (fork with IPC): handshake-flood.ts PORT HELLO_FRAME_HEX WRAPPED_BYTES MAX_CONNECTIONS MAX_MS CONCURRENCY
 */

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { encodeFrame } from '../../src/wire/frames.ts';
import { encodeKeyMessage } from '../../src/wire/handshake-messages.ts';

const [port, helloHex, wrappedBytes, maxConnections, maxMs, concurrency] = process.argv.slice(2);
const hello = Buffer.from(helloHex!, 'hex');
const started = performance.now();
let connections = 0;
let stopping = false;
const open = new Set<net.Socket>();

function launch(): void {
  if (stopping || connections >= Number(maxConnections) || performance.now() - started >= Number(maxMs)) return finish();
  connections++;
  const socket = net.connect(Number(port), '127.0.0.1');
  open.add(socket);
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.once('connect', () => {
    socket.write(hello);
    socket.write(encodeFrame(encodeKeyMessage({ wrapped: randomBytes(Number(wrappedBytes)) })));
  });
  socket.once('close', () => {
    open.delete(socket);
    launch();
  });
}

function finish(): void {
  if (!stopping) {
    stopping = true;
    for (const socket of open) socket.destroy();
  }
  if (open.size === 0 && process.connected) {
    process.send!({ connections, elapsedMs: performance.now() - started });
    process.disconnect();
  }
}

process.on('message', (message) => {
  if (message === 'stop') finish();
});
for (let i = 0; i < Number(concurrency); i++) launch();
