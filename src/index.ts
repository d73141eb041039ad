export { ErrorCode, type ErrorOrigin, NetcryptError, type NetcryptErrorOptions, isNetcryptError } from './errors.ts';
export type { Backend, BackendName, Envelope } from './backend/types.ts';
export { IV_BYTES, KEY_BYTES, TAG_BYTES } from './backend/types.ts';
export { type BackendChoice, loadBackend, setDefaultBackend, getDefaultBackendChoice } from './backend/index.ts';
export {
  type Identity,
  type Fingerprint,
  type ModulusLength,
  generateIdentity,
  identityFromPrivateKey,
  loadIdentity,
  loadOrCreateIdentity,
  saveIdentity,
  publicKeyPem,
  fingerprint,
} from './keys/identity.ts';
export { KnownHosts, DEFAULT_KNOWN_HOSTS } from './keys/known-hosts.ts';
export type { PeerIdentity } from './handshake/handshake.ts';
export { type CloseReason, DEFAULT_SEND_QUEUE_LIMIT_BYTES, type ReadyState, SecureChannel, type ReceiveOptions, type SecureChannelEvents, type SendOptions, type SendQueuePolicy } from './channel/secure-channel.ts';
export { type DuplexPairOptions, duplexPair } from './channel/duplex-pair.ts';
export { RemoteCode, type RequestContext, type RequestHandler, type RequestOptions } from './channel/requests.ts';
export type { Role } from './wire/handshake-messages.ts';
export type { KeyUpdatePolicy, SuiteName } from './wire/records.ts';
export { Channel } from './protocol/channel.ts';
export { type TrustOptions, type PeerTrust } from './channel/trust.ts';
export { type ChannelBounds, type ChannelOptions, type ConnectOptions, connect, secureSocket } from './protocol/connect.ts';
export type { HandshakeRateOptions } from './protocol/handshake-rate.ts';
export { type ServerOptions, createServer } from './protocol/server.ts';
export { DEFAULT_CLOSE_GRACE_MS, NetcryptServer, type NetcryptServerEvents, type ServerCloseOptions } from './protocol/netcrypt-server.ts';
export {
  type Client,
  type ClientEvents,
  type ClientOptions,
  type ClientRequestOptions,
  type ClientSendOptions,
  type ReconnectOptions,
  type ReconnectingInfo,
  createClient,
} from './protocol/client.ts';
export { createOnionServer, type OnionServer, type OnionServerOptions } from './protocol/onion-server.ts';
export { sealTo, openWith, type EnvelopeOptions } from './envelope/sealed-message.ts';
export { ServerProtocol, ClientProtocol, type ProtocolOptions } from './protocol/seed-protocol.ts';
export {
  enableTor,
  type TorClient,
  type TorOptions,
  type TorConnectOptions,
  hostOnionService,
  type OnionService,
  type OnionServiceOptions,
  isValidOnionAddress,
  TorControl,
  type TorControlOptions,
  type CommandOptions,
  type ControlAuthMethod,
  type ProtocolInfo,
  type ControlReply,
  type ControlReplyLine,
  type SocksProxyOptions,
  type StreamIsolation,
} from './tor/index.ts';
export {
  sendFile,
  sendFiles,
  sendDirectory,
  sendPaths,
  receiveFile,
  receiveFiles,
  recvFile,
  type FileResult,
  type DirectoryResult,
  type FileSendOptions,
  type FileReceiveOptions,
  type FileOffer,
  type TransferProgress,
  type ProgressListener,
} from './files/index.ts';
