/**
 * createServer() published as a Tor onion service: the server listens on a
 * loopback port of its own and Tor forwards the onion address's virtual
 * port to it. Clients reach it with connect({ host: address, port, tor: true, pin }).
 */

import type net from 'node:net';
import type { Channel } from './channel.ts';
import { type OnionServiceOptions, hostOnionService } from '../tor/onion-service.ts';
import type { NetcryptServer, ServerCloseOptions } from './netcrypt-server.ts';
import { type ServerOptions, createServer } from './server.ts';

export interface OnionServerOptions extends ServerOptions {
  /** How to reach Tor's control port, the port clients dial, and optionally a stored service key. */
  onion: Omit<OnionServiceOptions, 'port'> & { virtualPort: number };
}

export interface OnionServer {
  readonly server: NetcryptServer;
  /** `<56 base32 characters>.onion` */
  readonly address: string;
  readonly virtualPort: number;
  /** `ED25519-V3:…`: keep it secret; pass it back as `onion.privateKey` to keep the address. */
  readonly privateKey: string;
  /** Removes the onion service, then closes the server and its channels (NetcryptServer.close()). */
  close(options?: ServerCloseOptions): Promise<void>;
  /** Removes the onion service and stops listening; the channels already open go on. */
  stopListening(): Promise<void>;
}

export async function createOnionServer(
  options: OnionServerOptions,
  onChannel?: (channel: Channel<net.Socket>) => void | Promise<void>,
): Promise<OnionServer> {
  // Every peer arrives from Tor's own loopback address: a per-source limit would throttle them all as one.
  const server = createServer({ ...options, handshakeRate: options.handshakeRate ?? false, maxConnectionsPerSource: options.maxConnectionsPerSource ?? Infinity }, onChannel);
  // Loopback only: the onion service is the way in, not the machine's network interfaces.
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  let service;
  try {
    service = await hostOnionService({ ...options.onion, port });
  } catch (error) {
    await server.close({ graceMs: 0 });
    throw error;
  }
  return {
    server,
    address: service.address,
    virtualPort: service.virtualPort,
    privateKey: service.privateKey,
    async close(closeOptions) {
      await service.close();
      await server.close(closeOptions);
    },
    async stopListening() {
      await service.close();
      server.stopListening();
    },
  };
}
