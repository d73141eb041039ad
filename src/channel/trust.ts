/**
 * Turns the trust options of connect() and createServer() into the
 * handshake's verifyPeer hook: pinned fingerprints first, then the
 * known-hosts file (trust on first use), then a caller's own check.
 */

import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import type { PeerIdentity } from '../handshake/handshake.ts';
import { fingerprintsEqual, isFingerprint } from '../keys/identity.ts';
import { KnownHosts } from '../keys/known-hosts.ts';

export interface TrustOptions {
  /** Accept only a peer whose key has one of these fingerprints (`SHA256:…`). */
  pin?: string | readonly string[];
  /** A known-hosts file: remember a peer's key on first contact, refuse a changed one. */
  knownHosts?: string | KnownHosts;
  /** The name a known-hosts entry is stored under; connect() uses "host:port". */
  peerId?: string;
  /** A further check of your own; throw to refuse the peer. */
  verifyPeer?: (peer: PeerIdentity) => void | Promise<void>;
}

export function buildVerifier(options: TrustOptions): ((peer: PeerIdentity) => Promise<void>) | undefined {
  const pins = options.pin === undefined ? [] : typeof options.pin === 'string' ? [options.pin] : [...options.pin];
  for (const pin of pins) if (!isFingerprint(pin)) throw invalidArgument(`pin ${JSON.stringify(pin)} is not a SHA256:… fingerprint`);
  if (options.knownHosts !== undefined && !options.peerId) throw invalidArgument('knownHosts needs a peerId to file the key under');
  if (pins.length === 0 && options.knownHosts === undefined && !options.verifyPeer) return undefined;

  let knownHosts: Promise<KnownHosts> | undefined;
  return async (peer) => {
    if (pins.length > 0 && !pins.some((pin) => fingerprintsEqual(pin, peer.fingerprint))) {
      throw new NetcryptError(
        ErrorCode.PEER_KEY_MISMATCH,
        `peer key ${peer.fingerprint} is not the pinned key${pins.length > 1 ? 's' : ''} ${pins.join(', ')}`,
      );
    }
    if (options.knownHosts !== undefined) {
      const store = options.knownHosts;
      knownHosts ??= typeof store === 'string' ? KnownHosts.open(store) : Promise.resolve(store);
      await (await knownHosts).verify(options.peerId!, peer.fingerprint);
    }
    await options.verifyPeer?.(peer);
  };
}
