/**
 * A sender that speaks the file protocol by hand, to feed a real receiver
 * whatever a hostile peer could: bad names, lying sizes, wrong hashes,
 * messages out of order.
 */

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { SecureChannel } from '../../src/channel/secure-channel.ts';
import {
  CONTROL_LANE,
  type ControlMessage,
  DATA_LANE,
  type Entry,
  type ReceiverMessage,
  type SenderMessage,
  decodeControl,
  encodeControl,
} from '../../src/files/file-messages.ts';
import { partialName } from '../../src/files/file-names.ts';

export class RawSender {
  readonly channel: SecureChannel;
  #nextId = 1;
  readonly #replies: ReceiverMessage[] = [];
  #waiter?: (reply: ReceiverMessage) => void;

  constructor(channel: SecureChannel) {
    this.channel = channel;
    channel.onLane(CONTROL_LANE, (bytes) => {
      const reply = decodeControl(bytes) as ReceiverMessage;
      if (this.#waiter) {
        this.#waiter(reply);
        this.#waiter = undefined;
      } else {
        this.#replies.push(reply);
      }
    });
  }

  /** The receiver's next message other than credit. */
  async reply(): Promise<ReceiverMessage> {
    for (;;) {
      const reply = this.#replies.shift() ?? (await new Promise<ReceiverMessage>((resolve) => (this.#waiter = resolve)));
      if (reply.t !== 'credit') return reply;
    }
  }

  send(message: ControlMessage): Promise<void> {
    return this.channel.sendOnLane(CONTROL_LANE, encodeControl(message));
  }

  raw(bytes: Uint8Array, lane = CONTROL_LANE): Promise<void> {
    return this.channel.sendOnLane(lane, bytes);
  }

  chunk(bytes: Uint8Array): Promise<void> {
    return this.channel.sendOnLane(DATA_LANE, bytes);
  }

  /** Sends a manifest and returns its batch id. */
  async manifest(entries: Entry[]): Promise<number> {
    const id = this.#nextId++;
    await this.send({ t: 'manifest', id, entries });
    return id;
  }

  /**
   * Plays a whole single-file batch: declares `declared` bytes, sends
   * `content`, then an end carrying `claimedHash` (default: the content's
   * real hash). Returns the receiver's verdict.
   */
  async sendFile(name: string, declared: number, content: Buffer, claimedHash?: Buffer, mtime = Date.now()): Promise<ReceiverMessage> {
    const id = await this.manifest([{ type: 'file', path: [name], size: declared, mode: 0o644, mtime }]);
    const want = await this.reply();
    if (want.t !== 'want') return want;
    await this.send({ t: 'start', id, index: 0, offset: 0 });
    if (content.length > 0) await this.chunk(content);
    await this.send({ t: 'end', id, index: 0, sha256: claimedHash ?? createHash('sha256').update(content).digest() });
    return this.reply();
  }
}

/** Where the receiver in `dir` keeps its partial file of `name` as announced by `sender`. */
export function partialPath(dir: string, sender: SecureChannel, name: string, size: number, mtime: number): string {
  return join(dir, partialName(name, { peer: sender.localFingerprint, size, mtime }));
}

export function fileEntry(path: string[], size = 0): Entry {
  return { type: 'file', path, size, mode: 0o644, mtime: Date.now() };
}

export function dirEntry(path: string[]): Entry {
  return { type: 'dir', path, mode: 0o755 };
}

/** A receiver that speaks the file protocol by hand, to feed a real sender whatever a hostile peer could. */
export class RawReceiver {
  readonly channel: SecureChannel;
  readonly #messages: (SenderMessage | Buffer)[] = [];
  #waiter?: (message: SenderMessage | Buffer) => void;

  constructor(channel: SecureChannel) {
    this.channel = channel;
    channel.onLane(CONTROL_LANE, (bytes) => this.#push(decodeControl(bytes) as SenderMessage));
    channel.onLane(DATA_LANE, (bytes) => this.#push(Buffer.from(bytes)));
  }

  #push(message: SenderMessage | Buffer): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter(message);
    else this.#messages.push(message);
  }

  /** The sender's next control message or content chunk (a Buffer). */
  next(): Promise<SenderMessage | Buffer> {
    const queued = this.#messages.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  send(message: ControlMessage): Promise<void> {
    return this.channel.sendOnLane(CONTROL_LANE, encodeControl(message));
  }
}
