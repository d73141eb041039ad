/**
 * Turns the trust options of connect() and createServer() into the
 * handshake's verifyPeer hook: pinned fingerprints first, then the
 * known-hosts file (trust on first use), then a caller's own check. A key new
 * to the known-hosts file is recorded only after the caller's check accepted it.
 */

import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import type { PeerIdentity } from '../handshake/handshake.ts';
import { fingerprintsEqual, isFingerprint } from '../keys/identity.ts';
import { KnownHosts } from '../keys/known-hosts.ts';

/** What the trust options already established when verifyPeer is called. */
export interface PeerTrust {
  /** With `knownHosts`: 'new' if the file has no key for this peer (it is recorded if verifyPeer accepts), 'known' if it has this one. */
  readonly knownHosts?: 'new' | 'known';
}

export interface TrustOptions {
  /** Accept only a peer whose key has one of these fingerprints (`SHA256:…`). */
  pin?: string | readonly string[];
  /**
   * A known-hosts file: remember a peer's key on first contact, refuse a changed one.
   * `true` is ~/.netcrypt/known_hosts; a leading `~/` is the home folder.
   */
  knownHosts?: string | true | KnownHosts;
  /** The name a known-hosts entry is stored under; connect() uses "host:port". */
  peerId?: string;
  /**
   * A further check of your own; throw to refuse the peer. `trust.knownHosts`
   * says whether the key is new to the known-hosts file, so you can ask "new key, continue?".
   */
  verifyPeer?: (peer: PeerIdentity, trust: PeerTrust) => void | Promise<void>;
  /** 'any': accept any peer key, unauthenticated. A client must choose this or one of the above. */
  trust?: 'any';
}

/**
 * The verifier, or undefined when any peer is accepted. With `requireChoice`
 * (the client side) trusting any key must be asked for explicitly.
 */
export function buildVerifier(options: TrustOptions, { requireChoice }: { requireChoice: boolean }): ((peer: PeerIdentity) => Promise<void>) | undefined {
  const pins = options.pin === undefined ? [] : typeof options.pin === 'string' ? [options.pin] : [...options.pin];
  for (const pin of pins) if (!isFingerprint(pin)) throw invalidArgument(`pin ${JSON.stringify(pin)} is not a SHA256:… fingerprint`);
  if (options.knownHosts !== undefined && !options.peerId) throw invalidArgument('knownHosts needs a peerId to file the key under');
  const chosen = pins.length > 0 || options.knownHosts !== undefined || options.verifyPeer !== undefined;
  if (options.trust !== undefined && options.trust !== 'any') throw invalidArgument(`trust must be 'any' or absent, not ${JSON.stringify(options.trust)}`);
  if (options.trust === 'any') {
    if (chosen) throw invalidArgument("trust: 'any' contradicts pin, knownHosts and verifyPeer: pass one or the other");
    return undefined;
  }
  if (!chosen) {
    if (!requireChoice) return undefined;
    throw invalidArgument(
      "connect() needs to know which server keys to trust: pass pin: 'SHA256:…' (the server's fingerprint), " +
        'knownHosts: true (remember the key on first use in ~/.netcrypt/known_hosts), verifyPeer(peer), ' +
        "or trust: 'any' to accept any key (no protection against a man in the middle)",
    );
  }

  let knownHosts: Promise<KnownHosts> | undefined;
  return async (peer) => {
    if (pins.length > 0 && !pins.some((pin) => fingerprintsEqual(pin, peer.fingerprint))) {
      throw new NetcryptError(
        ErrorCode.PEER_KEY_MISMATCH,
        `peer key ${peer.fingerprint} is not the pinned key${pins.length > 1 ? 's' : ''} ${pins.join(', ')}`,
      );
    }
    let store: KnownHosts | undefined;
    let status: 'new' | 'known' | undefined;
    if (options.knownHosts !== undefined) {
      const given = options.knownHosts;
      knownHosts ??= given instanceof KnownHosts ? Promise.resolve(given) : KnownHosts.open(given);
      store = await knownHosts;
      status = await store.lookup(options.peerId!, peer.fingerprint);
    }
    await options.verifyPeer?.(peer, status === undefined ? {} : { knownHosts: status });
    // Under the file's lock: if another connection recorded a different key meanwhile, this one is refused.
    if (status === 'new') await store!.verify(options.peerId!, peer.fingerprint);
  };
}
