/**
 * The API of the original Python library, kept for its users:
 *
 *   const server = new ServerProtocol();
 *   const clientKey = await server.publicKeyExchange(conn);
 *   server.setPublicKey(clientKey);
 *   await server.sendCryptoStream(conn, 'Welcome');
 *   const reply = await server.recvCryptoStream(conn);
 *
 * Underneath, each socket gets a Channel: publicKeyExchange() runs the
 * handshake up to the peer's key; setPublicKey() pins that key (a mismatch
 * is ERR_PEER_KEY_MISMATCH); the rest of the handshake completes before the
 * first message moves. Key generation never blocks the event loop.
 */

import type { Socket } from 'node:net';
import type { BackendChoice } from '../backend/index.ts';
import { resolveBackend } from '../backend/index.ts';
import type { Backend } from '../backend/types.ts';
import { awaitBeforeTakeover } from '../channel/socket-waits.ts';
import { Channel } from './channel.ts';
import * as files from '../files/index.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import type { PeerIdentity } from '../handshake/handshake.ts';
import {
  type Identity,
  MODULUS_LENGTHS,
  type ModulusLength,
  fingerprint,
  fingerprintsEqual,
  generateIdentity,
  identityFromPrivateKey,
  isModulusLength,
  publicKeyPem,
} from '../keys/identity.ts';
import { type TorClient, type TorOptions, enableTor } from '../tor/tor-client.ts';
import type { Role } from '../wire/handshake-messages.ts';

export interface ProtocolOptions {
  /** A key pair to use instead of generating one: an Identity, or a private key PEM. */
  keyPair?: Identity | string;
  /** RSA size when generating: 2048, 3072 (default) or 4096. */
  keySize?: ModulusLength;
  backend?: Backend | BackendChoice;
  maxMessageBytes?: number;
  handshakeTimeoutMs?: number;
}

function mismatch(expected: string, presented: string): NetcryptError {
  return new NetcryptError(ErrorCode.PEER_KEY_MISMATCH, `peer presented key ${presented}, but ${expected} was set with setPublicKey()`);
}

abstract class SeedProtocol {
  readonly #role: Role;
  readonly #options: ProtocolOptions;
  readonly #identity: Promise<Identity>;
  readonly #channels = new WeakMap<Socket, Channel>();
  /** Channels still open, so setPublicKey() can check peers already known. */
  readonly #open = new Set<Channel>();
  #pinned?: string;

  protected constructor(role: Role, options: ProtocolOptions = {}) {
    this.#role = role;
    this.#options = options;
    const { keyPair, keySize = 3072 } = options;
    if (keyPair === undefined && !isModulusLength(keySize)) {
      throw invalidArgument(`keySize must be one of ${MODULUS_LENGTHS.join(', ')}`);
    }
    this.#identity =
      keyPair === undefined
        ? generateIdentity({ modulusLength: keySize })
        : Promise.resolve(typeof keyPair === 'string' ? identityFromPrivateKey(keyPair) : keyPair);
    this.#identity.catch(() => {});
  }

  /** This side's identity (resolves once key generation is done). */
  get identity(): Promise<Identity> {
    return this.#identity;
  }

  /** This side's public key as PEM. */
  async publicKey(): Promise<string> {
    return publicKeyPem((await this.#identity).publicKey);
  }

  /**
   * Exchanges hellos on `socket` and returns the peer's public key (PEM).
   * Either side may call first; the call order never deadlocks.
   */
  async publicKeyExchange(socket: Socket): Promise<string> {
    if (this.#channels.has(socket)) throw invalidArgument('publicKeyExchange() was already called for this socket');
    // Key generation may still be running; the socket must survive a reset meanwhile.
    const [identity, backend] = await awaitBeforeTakeover(socket, Promise.all([this.#identity, resolveBackend(this.#options.backend)]));
    const channel = new Channel(socket, {
      role: this.#role,
      identity,
      backend,
      verifyPeer: (peer) => this.#checkPin(peer),
      maxMessageBytes: this.#options.maxMessageBytes,
      handshakeTimeoutMs: this.#options.handshakeTimeoutMs,
    });
    this.#channels.set(socket, channel);
    this.#open.add(channel);
    channel.once('close', () => this.#open.delete(channel));
    return (await channel.peerKnown).publicKeyPem;
  }

  /**
   * Pins the peer's key. If a connection's peer presented another key, that
   * connection is closed and this throws ERR_PEER_KEY_MISMATCH.
   */
  setPublicKey(key: string | Uint8Array): void {
    this.#pinned = fingerprint(key);
    let refused: NetcryptError | undefined;
    for (const channel of this.#open) {
      if (!channel.peer) continue;
      try {
        this.#checkPin(channel.peer);
      } catch (error) {
        refused = error as NetcryptError;
        channel.destroy(refused);
      }
    }
    if (refused) throw refused;
  }

  /**
   * Ends the connection with the authenticated close: resolves once both
   * sides' CLOSE records have crossed, so the peer's last messages are all
   * in and ours all out (a bare `socket.end()` is ERR_TRUNCATED for the peer).
   */
  async close(socket: Socket): Promise<void> {
    await this.channel(socket).close();
  }

  /**
   * Encrypts and sends one message (Buffer, Uint8Array or string); resolves
   * once it has been handed to the kernel, so exiting the process right
   * after does not lose it.
   */
  async sendCryptoStream(socket: Socket, data: Uint8Array | string): Promise<void> {
    const channel = await this.#readyChannel(socket);
    await channel.send(data);
    await channel.flush();
  }

  /** Receives and decrypts one message. Every failure rejects with a NetcryptError. */
  async recvCryptoStream(socket: Socket): Promise<Buffer> {
    return (await this.#readyChannel(socket)).receive();
  }

  /** Streams a file to the peer: base name only, verified by SHA-256 (docs/FILES.md). */
  async sendFile(socket: Socket, path: string, options?: files.FileSendOptions): Promise<files.FileResult> {
    return files.sendFile(await this.#readyChannel(socket), path, options);
  }

  /**
   * Receives one file into `fileLocation` (default: the current directory —
   * the process never changes directory), under a validated name, atomically.
   */
  async recvFile(socket: Socket, fileLocation = '', options?: Omit<files.FileReceiveOptions, 'dir'>): Promise<files.FileResult> {
    return files.recvFile(await this.#readyChannel(socket), fileLocation, options);
  }

  /**
   * Returns a dialler through Tor's SOCKS5 port (default 127.0.0.1:9050;
   * Tor Browser uses 9150): `await protocol.enableTor().connect(port, host)`
   * gives a socket for publicKeyExchange() and the rest. Unlike the original,
   * nothing process-wide changes: other sockets stay direct.
   */
  enableTor(options?: TorOptions): TorClient {
    return enableTor(options);
  }

  /** The channel behind a socket, for the modern API (streams, iteration, files). */
  channel(socket: Socket): Channel {
    const channel = this.#channels.get(socket);
    if (!channel) throw invalidArgument('call publicKeyExchange(socket) first');
    return channel;
  }

  async #readyChannel(socket: Socket): Promise<Channel> {
    const channel = this.channel(socket);
    await channel.ready;
    const peer = channel.peer!;
    try {
      this.#checkPin(peer);
    } catch (error) {
      channel.destroy(error as NetcryptError);
      throw error;
    }
    return channel;
  }

  #checkPin(peer: PeerIdentity): void {
    if (this.#pinned !== undefined && !fingerprintsEqual(this.#pinned, peer.fingerprint)) {
      throw mismatch(this.#pinned, peer.fingerprint);
    }
  }
}

export class ServerProtocol extends SeedProtocol {
  constructor(options?: ProtocolOptions) {
    super('server', options);
  }
}

export class ClientProtocol extends SeedProtocol {
  constructor(options?: ProtocolOptions) {
    super('client', options);
  }
}
