/** Loopback plumbing for the channel tests: listening, proxies that tamper, raw peers. */

import net from 'node:net';
import { after } from 'node:test';
import { NetcryptServer } from '../../src/protocol/netcrypt-server.ts';
import { FrameDecoder, encodeFrame } from '../../src/wire/frames.ts';

export async function listen(server: net.Server | NetcryptServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/**
 * Listens on loopback and, when the test (or suite, or file) calling it
 * ends, closes the server and destroys its connections (a net.Server's
 * close() alone waits for them forever; a NetcryptServer's with no grace
 * drops them).
 *
 * node:test gives after() to the test it finds through the async context:
 * called once the test has awaited a promise made in an earlier test (a
 * shared cache's), the hook goes to that finished test and never runs, and
 * the server keeps the process alive. So call it before such an await (as
 * loopbackPair() does with its own hook).
 */
export async function serve(server: net.Server | NetcryptServer): Promise<number> {
  if (server instanceof NetcryptServer) {
    after(() => server.close({ graceMs: 0 }));
    return listen(server);
  }
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  after(() => {
    server.close();
    for (const socket of sockets) socket.destroy();
  });
  return listen(server);
}

export async function connectRaw(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** A connected pair of sockets over real loopback TCP. */
export async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  const port = await listen(server);
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = await connectRaw(port);
  const serverSide = await accepted;
  server.close();
  return [client, serverSide];
}

export type Direction = 'c2s' | 's2c';

/** Turns what one side sent into what the other receives; null cuts the connection. */
type Transform = (chunk: Buffer) => Buffer[] | null;

export interface Proxy {
  port: number;
  close: () => void;
}

/**
 * A TCP relay on loopback with a fresh transform per direction of each
 * connection. Like a real relay it holds back what the far side has not
 * taken (a sender far ahead of its peer would otherwise wait out its close
 * deadline behind a backlog only this relay holds), and passes a clean end
 * on as an end, after what it still holds; only an abrupt one as a reset.
 */
async function relay(targetPort: number, makeTransform: (direction: Direction) => Transform): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const pipe = (from: net.Socket, to: net.Socket, direction: Direction) => {
      const transform = makeTransform(direction);
      from.on('data', (chunk: Buffer) => {
        const out = transform(chunk);
        if (out === null) {
          client.destroy();
          upstream.destroy();
          return;
        }
        let taken = true;
        for (const piece of out) taken = to.write(piece) && taken;
        if (!taken) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => {
        if (!from.readableEnded) to.destroy();
      });
    };
    pipe(client, upstream, 'c2s');
    pipe(upstream, client, 's2c');
  });
  const port = await listen(server);
  return {
    port,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

/** `onChunk` sees each chunk with its stream offset and returns what to forward (null: cut). */
export function byteProxy(targetPort: number, onChunk: (direction: Direction, chunk: Buffer, offset: number) => Buffer | null): Promise<Proxy> {
  return relay(targetPort, (direction) => {
    let offset = 0;
    return (chunk) => {
      const out = onChunk(direction, chunk, offset);
      offset += chunk.length;
      return out === null ? null : [out];
    };
  });
}

/** `onFrame` sees every whole frame (and its index per direction) and returns the frame payloads to forward. */
export function frameProxy(targetPort: number, onFrame: (direction: Direction, frame: Buffer, index: number) => Buffer[]): Promise<Proxy> {
  return relay(targetPort, (direction) => {
    const decoder = new FrameDecoder(0xffffffff);
    let index = 0;
    return (chunk) => {
      decoder.push(chunk);
      const out: Buffer[] = [];
      for (let frame = decoder.next(); frame; frame = decoder.next()) out.push(...onFrame(direction, frame, index++).map(encodeFrame));
      return out;
    };
  });
}
