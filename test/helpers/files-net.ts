/**
 * Loopback plumbing for the file tests: a netcrypt server handing out
 * channel pairs (optionally through a proxy that cuts the connection after
 * N bytes from sender to receiver), temporary folders, and file digests.
 */

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureChannel } from '../../src/channel/secure-channel.ts';
import { connect } from '../../src/protocol/connect.ts';
import type { NetcryptServer } from '../../src/protocol/netcrypt-server.ts';
import { createServer } from '../../src/protocol/server.ts';
import { isNetcryptError } from '../../src/errors.ts';
import type { Identity } from '../../src/keys/identity.ts';

export const hasCode = (expected: string) => (error: unknown) => isNetcryptError(error) && error.code === expected;

export interface ChannelPair {
  /** The client side, which the tests use to send. */
  sender: SecureChannel;
  /** The server side. */
  receiver: SecureChannel;
}

/** A netcrypt server on loopback. pair() connects a client and returns both ends once each has finished its handshake. */
export class Peers {
  readonly #server: NetcryptServer;
  readonly #waiting: ((channel: SecureChannel) => void)[] = [];
  readonly #identity: Identity;
  readonly #port: number;
  readonly #channels = new Set<SecureChannel>();
  readonly #proxies = new Set<net.Server>();

  private constructor(server: NetcryptServer, identity: Identity, port: number) {
    this.#server = server;
    this.#identity = identity;
    this.#port = port;
  }

  static async start(identity: Identity): Promise<Peers> {
    let peers: Peers | undefined;
    // Tests open many connections from one address in a burst: the per-source handshake rate limit is not what they test.
    const server = createServer({ identity, backend: 'native', handshakeRate: false }, (channel) => peers!.#waiting.shift()?.(channel));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    peers = new Peers(server, identity, (server.address() as net.AddressInfo).port);
    return peers;
  }

  /**
   * A connected pair; with `cutAfter`, the connection is destroyed once that many bytes went from sender to receiver.
   * The sender uses the server's identity unless given another.
   */
  async pair(options: { cutAfter?: number; identity?: Identity } = {}): Promise<ChannelPair> {
    const port = options.cutAfter === undefined ? this.#port : await this.#cuttingProxy(options.cutAfter);
    const receiver = new Promise<SecureChannel>((resolve) => this.#waiting.push(resolve));
    const sender = await connect({ port, identity: options.identity ?? this.#identity, pin: this.#identity.fingerprint, backend: 'native' });
    const pair = { sender, receiver: await receiver };
    this.#channels.add(pair.sender).add(pair.receiver);
    return pair;
  }

  async #cuttingProxy(limit: number): Promise<number> {
    let remaining = limit;
    const proxy = net.createServer((client) => {
      const upstream = net.connect(this.#port, '127.0.0.1');
      const cut = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('data', (chunk: Buffer) => {
        if (chunk.length < remaining) {
          remaining -= chunk.length;
          upstream.write(chunk);
          return;
        }
        upstream.write(chunk.subarray(0, remaining), cut);
        remaining = 0;
      });
      upstream.pipe(client);
      client.on('error', cut);
      upstream.on('error', cut);
      client.on('close', cut);
      upstream.on('close', cut);
    });
    this.#proxies.add(proxy);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    return (proxy.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const channel of this.#channels) channel.destroy();
    for (const proxy of this.#proxies) proxy.close();
    await this.#server.close({ graceMs: 0 });
  }
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `netcrypt-${prefix}-`));
}

/** Fresh numbered folders under `root()` (a getter: the root is made in a before hook), so tests never share a target. */
export function folderMaker(root: () => string): (label?: string) => Promise<string> {
  let count = 0;
  return async (label = 'dst') => {
    const path = join(root(), `${label}-${count++}`);
    await mkdir(path);
    return path;
  };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function writeRandomFile(path: string, size: number): Promise<void> {
  await writeFile(path, randomBytes(size));
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every name under `dir`, recursively, '/'-separated and sorted. */
export async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

/** Marks a promise as handled now, to be awaited (and its rejection asserted) later. */
export function pending<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
