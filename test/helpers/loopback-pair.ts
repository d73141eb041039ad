/**
 * Both ends of one channel over real loopback TCP, through the library's own
 * createServer() and connect(): for tests whose subject includes the socket
 * (backpressure, keepalive, a peer that stops reading). For test files
 * only: importing it registers a node:test hook.
 */

import { after } from 'node:test';
import type { Channel } from '../../src/protocol/channel.ts';
import { type ChannelOptions, connect } from '../../src/protocol/connect.ts';
import type { NetcryptServer } from '../../src/protocol/netcrypt-server.ts';
import { type ServerOptions, createServer } from '../../src/protocol/server.ts';
import { testIdentities } from './identities.ts';
import { listen } from './net.ts';

export interface LoopbackPairOptions {
  client?: Partial<ChannelOptions>;
  server?: Partial<ServerOptions>;
  /** Applied to the server end before it is handed over (a request handler, say, ready for the first request). */
  onServer?: (channel: Channel) => void;
}

/** Pairs not yet closed; whatever a lost per-test hook left open is closed when the file's last test ends. */
const open = new Set<() => Promise<void>>();
after(() => Promise.all([...open].map((close) => close())));

/**
 * The client pins the server (the test identities' first; the client is the
 * second). The pair and its server are closed when the calling test ends.
 *
 * That hook is registered before anything is awaited: node:test hands after()
 * to the test it finds through the async context, and a promise made in an
 * earlier test (the shared identities) carries that test's context, so an
 * after() called once it is awaited goes to a finished test and never runs.
 */
export async function loopbackPair(options: LoopbackPairOptions = {}): Promise<{ client: Channel; server: Channel }> {
  let server: NetcryptServer | undefined;
  const channels: Channel[] = [];
  const close = async () => {
    if (!open.delete(close)) return;
    for (const channel of channels) channel.destroy();
    await server?.close({ graceMs: 0 });
  };
  open.add(close);
  after(close);

  const [serverId, clientId] = await testIdentities();
  let handOver!: (channel: Channel) => void;
  const serverSide = new Promise<Channel>((resolve) => (handOver = resolve));
  server = createServer({ identity: serverId, handshakeRate: false, ...options.server }, (channel) => {
    channels.push(channel);
    options.onServer?.(channel);
    handOver(channel);
  });
  const port = await listen(server);
  const client = await connect({ port, identity: clientId, pin: serverId!.fingerprint, ...options.client });
  channels.push(client);
  return { client, server: await serverSide };
}
