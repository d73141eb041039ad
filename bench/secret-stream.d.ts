/** The part of @hyperswarm/secret-stream (no bundled types) that bench:channel uses. */
declare module '@hyperswarm/secret-stream' {
  import type { Duplex } from 'node:stream';

  /** A Noise-XX-authenticated, libsodium-secretstream-encrypted duplex over `rawStream`; emits 'connect' after the handshake. */
  export default class SecretStream extends Duplex {
    constructor(isInitiator: boolean, rawStream?: Duplex, options?: Record<string, unknown>);
  }
}
