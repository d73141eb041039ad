/** The tor layer's public surface. */
export { enableTor, type TorClient, type TorConnectOptions, type TorOptions } from './tor-client.ts';
export {
  DEFAULT_SOCKS_HOST,
  DEFAULT_SOCKS_PORT,
  dialThroughSocks,
  type SocksDialOptions,
  type SocksProxyOptions,
  type StreamIsolation,
} from './socks-dialer.ts';
export { hostOnionService, type OnionService, type OnionServiceOptions } from './onion-service.ts';
export { isValidOnionAddress } from './onion-address.ts';
export {
  TorControl,
  type CommandOptions,
  type ControlAuthMethod,
  type ProtocolInfo,
  type TorControlOptions,
} from './control-port.ts';
export type { ControlReply, ControlReplyLine } from './control-reply.ts';
