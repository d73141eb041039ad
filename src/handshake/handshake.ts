/**
 * The netcrypt/1 handshake as a sans-I/O state machine: frame payloads in,
 * bytes to write out. No sockets, no timers — the channel drives it.
 *
 *   both sides at once:  hello   { role, features (incl. record suites), RSA public key, X25519 share, nonce }
 *   (caller decides trust in the peer's RSA key: pin, known hosts, or deferred)
 *   both sides:          key     { RSA-OAEP(peer RSA key, fresh 32-byte secret, label = H1) }
 *   both sides:          FINISHED record under the new keys, plaintext = H
 *
 *   H1   = SHA-256("netcrypt/1 hello" ‖ len‖hello_client ‖ len‖hello_server)
 *   H    = SHA-256(H1 ‖ len‖key_client ‖ len‖key_server)
 *   keys = HKDF-SHA-256(ikm = X25519 ‖ secret_client ‖ secret_server, salt = H)
 *
 * The record suite is the first of a fixed preference both hellos list, so
 * both sides agree without another message, and H covers the choice. *
 * Only the holder of an RSA private key can unwrap the secret sent to it, so
 * a valid FINISHED proves the peer holds the key it presented (key
 * confirmation); the ephemeral X25519 share gives forward secrecy; the
 * transcript hash binds every handshake byte. Both sides send their hello
 * without waiting, so no call order deadlocks. See docs/PROTOCOL.md.
 */

import { createHash, type KeyObject } from 'node:crypto';
import type { Backend } from '../backend/types.ts';
import { ErrorCode, NetcryptError, authError, invalidArgument } from '../errors.ts';
import { hkdfSha256 } from '../keys/hkdf.ts';
import { type Fingerprint, type Identity, fingerprintOfSpki, parsePeerPublicKey, publicKeyPem } from '../keys/identity.ts';
import { unwrapSecret, wrapSecret } from '../keys/rsa-oaep.ts';
import { generateEphemeral, x25519Shared } from '../keys/x25519.ts';
import { alertRecordPlaintext, decodeAlertMessage, encodeAlertMessage, peerAlertError } from '../wire/alerts.ts';
import { encodeFrame } from '../wire/frames.ts';
import {
  type Hello,
  type Negotiated,
  type Role,
  decodeHello,
  decodeKeyMessage,
  encodeHello,
  encodeKeyMessage,
  helloFeatures,
  negotiate,
} from '../wire/handshake-messages.ts';
import {
  DEFAULT_KEY_UPDATE_POLICY,
  type KeyUpdatePolicy,
  type RandomSource,
  RecordOpener,
  RecordSealer,
  RecordType,
  SUITES,
  SUITE_PREFERENCE,
  type Suite,
  type SuiteName,
  systemRandom,
} from '../wire/records.ts';

export interface PeerIdentity {
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  readonly fingerprint: Fingerprint;
}

export interface HandshakeOptions {
  role: Role;
  identity: Identity;
  backend: Backend;
  /**
   * Supplying this makes the handshake fully deterministic — every nonce,
   * secret, ephemeral key, OAEP seed and IV comes from it. Only for the
   * worked examples in docs/PROTOCOL.md; real sessions use node:crypto.
   */
  random?: RandomSource;
  /** The record suites this side offers (default: all); the first of the preference order both offer is used. */
  suites?: readonly SuiteName[];
  /**
   * When this side ratchets its sending key by itself (default
   * DEFAULT_KEY_UPDATE_POLICY). `false` leaves key-update out of the hello:
   * this side then behaves exactly as a netcrypt/1 peer from before key
   * updates (and cannot offer a256gcm) — for interoperability tests.
   */
  keyUpdate?: KeyUpdatePolicy | false;
}

export interface SessionKeys {
  /** Seals what this side sends (sequence 0, FINISHED, already used). */
  readonly sealer: RecordSealer;
  /** Opens what the peer sends (its FINISHED already opened). */
  readonly opener: RecordOpener;
  readonly transcriptHash: Buffer;
  /** The negotiated record suite. */
  readonly suite: Suite;
}

export type HandshakeState = 'start' | 'await-hello' | 'await-trust' | 'await-key' | 'await-finished' | 'done' | 'failed';

const SECRET_BYTES = 32;
const HELLO_LABEL = Buffer.from('netcrypt/1 hello');
/** Each suite's direction labels; a256cbc-hs512 keeps netcrypt/1's original ones. */
const DIRECTION_LABELS: Record<SuiteName, { clientToServer: Buffer; serverToClient: Buffer }> = {
  'a256cbc-hs512': { clientToServer: Buffer.from('netcrypt/1 client->server'), serverToClient: Buffer.from('netcrypt/1 server->client') },
  a256gcm: { clientToServer: Buffer.from('netcrypt/1 a256gcm client->server'), serverToClient: Buffer.from('netcrypt/1 a256gcm server->client') },
};

function checkPolicy(policy: KeyUpdatePolicy): KeyUpdatePolicy {
  for (const limit of [policy.records, policy.bytes]) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw invalidArgument('key update limits must be positive integers');
  }
  return policy;
}

function lengthPrefixed(parts: Uint8Array[]): Buffer[] {
  return parts.flatMap((part) => {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(part.length, 0);
    return [length, Buffer.from(part.buffer, part.byteOffset, part.length)];
  });
}

function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

export class Handshake {
  #state: HandshakeState = 'start';
  readonly #options: HandshakeOptions;
  readonly #random: RandomSource;
  readonly #ephemeral: ReturnType<typeof generateEphemeral>;
  readonly #secret: Uint8Array;
  readonly #features: string[];
  readonly #keyUpdatePolicy: KeyUpdatePolicy;
  #negotiated?: Negotiated;
  #helloBytes: { local?: Uint8Array; peer?: Uint8Array } = {};
  #peerHello?: Hello;
  #peer?: PeerIdentity;
  #helloHash?: Buffer;
  #localKeyBytes?: Uint8Array;
  /** A key message that arrived while the caller was still deciding trust. */
  #queuedKey?: Uint8Array;
  #pendingOpener?: RecordOpener;
  #pendingSealer?: RecordSealer;
  #transcriptHash?: Buffer;
  #session?: SessionKeys;

  constructor(options: HandshakeOptions) {
    if (options.role !== 'client' && options.role !== 'server') throw invalidArgument('role must be "client" or "server"');
    this.#options = options;
    const keyUpdate = options.keyUpdate ?? DEFAULT_KEY_UPDATE_POLICY;
    this.#keyUpdatePolicy = keyUpdate === false ? DEFAULT_KEY_UPDATE_POLICY : checkPolicy(keyUpdate);
    this.#features = helloFeatures(options.suites ?? (keyUpdate === false ? ['a256cbc-hs512'] : SUITE_PREFERENCE), keyUpdate !== false);
    this.#random = options.random ?? systemRandom();
    this.#ephemeral = generateEphemeral(options.random ? options.random(32) : undefined);
    this.#secret = this.#random(SECRET_BYTES);
  }

  get state(): HandshakeState {
    return this.#state;
  }

  get role(): Role {
    return this.#options.role;
  }

  /** The peer's long-term key, known from its hello on. */
  get peer(): PeerIdentity | undefined {
    return this.#peer;
  }

  /** The record keys, once state is 'done'. */
  get session(): SessionKeys | undefined {
    return this.#session;
  }

  /** Returns this side's hello, to be written at once. */
  start(): Uint8Array[] {
    this.#expectState('start');
    const hello = encodeHello({
      role: this.role,
      features: this.#features,
      rsa: this.#options.identity.publicKeyDer,
      x25519: this.#ephemeral.publicRaw,
      nonce: this.#random(32),
    });
    this.#helloBytes.local = hello;
    this.#state = 'await-hello';
    return [encodeFrame(hello)];
  }

  /** Feeds one frame payload from the peer; returns bytes to write. Throws NetcryptError on any failure. */
  receive(payload: Uint8Array): Uint8Array[] {
    return this.#guard(() => {
      // Until the peer's FINISHED, a peer that gives up can only say so in plaintext.
      const alert = decodeAlertMessage(payload);
      if (alert !== undefined) throw peerAlertError(alert, false);
      switch (this.#state) {
        case 'await-hello':
          this.#onHello(payload);
          return [];
        case 'await-trust':
          if (this.#queuedKey) throw new NetcryptError(ErrorCode.PROTOCOL, 'unexpected handshake message');
          this.#queuedKey = payload;
          return [];
        case 'await-key':
          return this.#onKey(payload);
        case 'await-finished':
          this.#onFinished(payload);
          return [];
        default:
          throw new NetcryptError(ErrorCode.PROTOCOL, `handshake message in state ${this.#state}`);
      }
    });
  }

  /**
   * The caller trusts the peer's key (pinned, known, or deliberately
   * unchecked): returns our wrapped secret, to be written at once — then
   * call receiveQueued() for a peer key that may have arrived meanwhile.
   */
  acceptPeer(): Uint8Array[] {
    return this.#guard(() => {
      this.#expectState('await-trust');
      const wrapped = wrapSecret(
        this.#peer!.publicKey,
        this.#secret,
        this.#helloHash!,
        this.#options.random ? this.#options.random(32) : undefined,
      );
      this.#localKeyBytes = encodeKeyMessage({ wrapped });
      this.#state = 'await-key';
      return [encodeFrame(this.#localKeyBytes)];
    });
  }

  /**
   * Goes on with a key message that arrived while trust was being decided.
   * Separate from acceptPeer() so the caller puts our key on the wire
   * first: the peer's RSA unwrap then runs while ours does.
   */
  receiveQueued(): Uint8Array[] {
    const queued = this.#queuedKey;
    if (!queued) return [];
    this.#queuedKey = undefined;
    return this.receive(queued);
  }

  /**
   * This side's alert, in the form the peer can read now: a plaintext frame
   * until our FINISHED has left (the peer has no keys before it), an ALERT
   * record under our key after.
   */
  alert(code: string): Uint8Array[] {
    const sealer = this.#session?.sealer ?? this.#pendingSealer;
    return sealer ? sealer.seal(RecordType.ALERT, alertRecordPlaintext(code)) : [encodeFrame(encodeAlertMessage(code))];
  }

  /** Marks the handshake failed (e.g. the caller refused the peer's key). */
  fail(): void {
    this.#state = 'failed';
  }

  #onHello(payload: Uint8Array): void {
    const hello = decodeHello(payload);
    if (hello.role === this.role) throw new NetcryptError(ErrorCode.PROTOCOL, `both sides claim the ${this.role} role`);
    const negotiated = negotiate(this.#features, hello.features);
    const publicKey = parsePeerPublicKey(hello.rsa);
    this.#negotiated = negotiated;
    this.#peerHello = hello;
    this.#helloBytes.peer = payload;
    // parsePeerPublicKey accepted only canonical DER, so the bytes received are the ones to hash.
    let pem: string | undefined;
    this.#peer = {
      publicKey,
      fingerprint: fingerprintOfSpki(hello.rsa),
      get publicKeyPem() {
        return (pem ??= publicKeyPem(publicKey));
      },
    };
    const [client, server] = this.#byRole(this.#helloBytes.local!, payload);
    this.#helloHash = sha256(HELLO_LABEL, ...lengthPrefixed([client, server]));
    this.#state = 'await-trust';
  }

  #onKey(payload: Uint8Array): Uint8Array[] {
    const peerSecret = unwrapSecret(this.#options.identity.privateKey, decodeKeyMessage(payload).wrapped, this.#helloHash!);
    if (peerSecret.length !== SECRET_BYTES) throw authError();
    const [clientKey, serverKey] = this.#byRole(this.#localKeyBytes!, payload);
    const transcriptHash = sha256(this.#helloHash!, ...lengthPrefixed([clientKey, serverKey]));
    const [clientSecret, serverSecret] = this.#byRole(this.#secret, peerSecret);
    const ikm = Buffer.concat([x25519Shared(this.#ephemeral.privateKey, this.#peerHello!.x25519), clientSecret, serverSecret]);
    const { suite: suiteName, keyUpdates } = this.#negotiated!;
    const suite = SUITES[suiteName];
    const labels = DIRECTION_LABELS[suiteName];
    const clientToServer = hkdfSha256(ikm, transcriptHash, labels.clientToServer, suite.keyMaterialBytes);
    const serverToClient = hkdfSha256(ikm, transcriptHash, labels.serverToClient, suite.keyMaterialBytes);
    const [sendKey, receiveKey] = this.role === 'client' ? [clientToServer, serverToClient] : [serverToClient, clientToServer];
    this.#transcriptHash = transcriptHash;
    const { backend } = this.#options;
    this.#pendingSealer = new RecordSealer(backend, suite, sendKey, this.#random, keyUpdates ? this.#keyUpdatePolicy : undefined);
    this.#pendingOpener = new RecordOpener(backend, suite, receiveKey, keyUpdates);
    // The record layer holds its own copies from here on.
    for (const secret of [ikm, clientToServer, serverToClient]) secret.fill(0);
    this.#state = 'await-finished';
    return this.#pendingSealer.seal(RecordType.FINISHED, transcriptHash);
  }

  #onFinished(payload: Uint8Array): void {
    const { type, plaintext } = this.#pendingOpener!.open(payload);
    if (type !== RecordType.FINISHED) throw new NetcryptError(ErrorCode.PROTOCOL, 'expected the FINISHED record');
    // Authenticated under keys only the peer could derive; the content check binds the transcript too.
    if (!this.#transcriptHash!.equals(plaintext)) throw authError();
    const sealer = this.#pendingSealer!;
    this.#session = { sealer, opener: this.#pendingOpener!, transcriptHash: this.#transcriptHash!, suite: sealer.suite };
    this.#state = 'done';
  }

  /** Orders a (local, peer) pair as (client, server). */
  #byRole<T>(local: T, peer: T): [T, T] {
    return this.role === 'client' ? [local, peer] : [peer, local];
  }

  #expectState(state: HandshakeState): void {
    if (this.#state !== state) throw new NetcryptError(ErrorCode.PROTOCOL, `handshake is in state ${this.#state}, not ${state}`);
  }

  #guard<T>(step: () => T): T {
    if (this.#state === 'failed') throw new NetcryptError(ErrorCode.PROTOCOL, 'handshake already failed');
    try {
      return step();
    } catch (error) {
      this.#state = 'failed';
      throw error;
    }
  }
}
