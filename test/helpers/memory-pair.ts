/**
 * Two channels joined by duplexPair(), their handshake done: for tests whose
 * subject is the protocol or the channel's behaviour, not the network.
 */

import { duplexPair } from '../../src/channel/duplex-pair.ts';
import type { Channel } from '../../src/protocol/channel.ts';
import { type ChannelOptions, secureSocket } from '../../src/protocol/connect.ts';
import { testIdentities } from './identities.ts';

export interface MemoryChannels {
  client: Channel;
  server: Channel;
}

/** The client pins the server; each side's options are added to the test identities (server: the first, client: the second). */
export async function memoryChannels(options: { client?: ChannelOptions; server?: ChannelOptions } = {}): Promise<MemoryChannels> {
  const [serverId, clientId] = await testIdentities();
  const [clientEnd, serverEnd] = duplexPair();
  const [client, server] = await Promise.all([
    secureSocket(clientEnd, 'client', { identity: clientId, pin: serverId!.fingerprint, ...options.client }),
    secureSocket(serverEnd, 'server', { identity: serverId, ...options.server }),
  ]);
  return { client, server };
}
