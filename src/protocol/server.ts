/**
 * createServer(): a net.Server whose connections are upgraded to Channels
 * by secureSocket(); the callback sees only channels whose handshake
 * completed and whose peer passed the trust options.
 */

import net from 'node:net';
import { NetcryptError } from '../errors.ts';
import { generateIdentity } from '../keys/identity.ts';
import { Channel } from './channel.ts';
import { type ChannelOptions, secureSocket } from './connect.ts';

export interface ServerOptions extends ChannelOptions {
  /** Called when a connection fails its handshake (bad peer, timeout); default: ignore. */
  onHandshakeError?: (error: NetcryptError, socket: net.Socket) => void;
  /**
   * Called when the connection callback throws or rejects — typically a peer
   * that vanished (ERR_TRUNCATED) or tampered (ERR_AUTH). The channel is
   * destroyed either way; the server keeps running. Default: ignore.
   */
  onChannelError?: (error: unknown, channel: Channel) => void;
}

/**
 * A net.Server whose connections are upgraded to Channels; the
 * callback sees only channels whose handshake completed. The identity is
 * resolved once and shared by every connection.
 */
export function createServer(options: ServerOptions, onChannel: (channel: Channel) => void | Promise<void>): net.Server {
  const identity = options.identity ?? generateIdentity();
  const shared = { ...options, identity };
  const serve = async (channel: Channel) => {
    try {
      await onChannel(channel);
    } catch (error) {
      channel.destroy(error instanceof NetcryptError ? error : undefined);
      options.onChannelError?.(error, channel);
    }
  };
  return net.createServer((socket) => {
    secureSocket(socket, 'server', shared).then(serve, (error: NetcryptError) => options.onHandshakeError?.(error, socket));
  });
}
