/**
 * Test-only network peers: a scripted SOCKS5 server that speaks the RFC 1928
 * / RFC 1929 handshake, records each request and answers as the test says
 * (any reply code, silence, or success with bytes glued to the reply), and a
 * loopback TCP echo server.
 */

import { once } from 'node:events';
import net from 'node:net';

export interface SocksRequest {
  methods: number[];
  username?: string;
  password?: string;
  /** 0x01 IPv4, 0x03 domain name, 0x04 IPv6. */
  addressType: number;
  host: string;
  port: number;
}

/** `silent` never answers the CONNECT request; a reply is sent as one write, followed by `payload` and, if asked, the end of the stream. */
export type SocksAnswer = 'silent' | { reply: number; payload?: Buffer; end?: boolean; /** BND.ADDR's type byte (default 0x01, IPv4). */ addressType?: number };

export interface SocksPeer {
  port: number;
  requests: SocksRequest[];
  /** Connections the peer accepted, and how many of them the client has since closed. */
  connections: { accepted: number; closed: number };
  /** Resolves once `count` client connections have closed. */
  closedConnections(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSocksPeer(options: { requireAuth?: boolean; answer: (request: SocksRequest) => SocksAnswer }): Promise<SocksPeer> {
  const requests: SocksRequest[] = [];
  const connections = { accepted: 0, closed: 0 };
  const sockets = new Set<net.Socket>();
  const closeWaiters: Array<() => void> = [];
  const server = net.createServer((socket) => {
    connections.accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => {
      sockets.delete(socket);
      connections.closed++;
      for (const wake of closeWaiters.splice(0)) wake();
    });
    serve(socket, options.requireAuth ?? false, options.answer, requests).catch(() => socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    connections,
    closedConnections: async (count) => {
      while (connections.closed < count) await new Promise<void>((resolve) => closeWaiters.push(resolve));
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

async function serve(socket: net.Socket, requireAuth: boolean, answer: (request: SocksRequest) => SocksAnswer, requests: SocksRequest[]): Promise<void> {
  const read = byteReader(socket);
  const [, methodCount] = await read(2);
  const methods = [...(await read(methodCount ?? 0))];
  // Like Tor, prefer username/password whenever the client offers it.
  const method = methods.includes(0x02) ? 0x02 : !requireAuth && methods.includes(0x00) ? 0x00 : 0xff;
  socket.write(Buffer.from([0x05, method]));
  if (method === 0xff) return void socket.end();

  const request: Partial<SocksRequest> = { methods };
  if (method === 0x02) {
    const [, userLength] = await read(2);
    request.username = (await read(userLength ?? 0)).toString();
    const [passwordLength] = await read(1);
    request.password = (await read(passwordLength ?? 0)).toString();
    socket.write(Buffer.from([0x01, 0x00]));
  }

  const [, , , addressType] = await read(4);
  let host: string;
  if (addressType === 0x01) host = [...(await read(4))].join('.');
  else if (addressType === 0x04) host = hexGroups(await read(16));
  else if (addressType === 0x03) host = (await read((await read(1))[0] ?? 0)).toString('latin1');
  else return void socket.destroy();
  const port = (await read(2)).readUInt16BE(0);
  const complete: SocksRequest = { ...request, methods, addressType, host, port };
  requests.push(complete);

  const response = answer(complete);
  if (response === 'silent') return;
  const reply = Buffer.from([0x05, response.reply, 0x00, response.addressType ?? 0x01, 0, 0, 0, 0, 0, 0]);
  socket.write(Buffer.concat([reply, response.payload ?? Buffer.alloc(0)]));
  if (response.reply !== 0x00 || response.end) socket.end();
}

/** An IPv6 address in full, uncompressed form: 0:0:0:0:0:0:0:1. */
function hexGroups(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

function byteReader(socket: net.Socket): (count: number) => Promise<Buffer> {
  let buffered = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  });
  socket.once('close', () => {
    ended = true;
    wake?.();
  });
  return async (count) => {
    while (buffered.length < count) {
      if (ended) throw new Error('the client closed the connection');
      await new Promise<void>((resolve) => (wake = resolve));
    }
    const bytes = buffered.subarray(0, count);
    buffered = buffered.subarray(count);
    return bytes;
  };
}

export async function startEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
