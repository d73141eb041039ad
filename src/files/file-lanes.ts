/**
 * One FileLanes per channel owns lanes 1 (control) and 2 (content) and
 * sorts what arrives into two queues: what a sender says goes to this
 * side's receiving role, what a receiver says to its sending role, so both
 * peers may send files to each other at once.
 *
 * Memory stays bounded whatever the peer does: content is accepted only
 * within the credit this side's receiver granted (checked on arrival, before
 * anything is queued), and unanswered messages are capped in number. A peer
 * that breaks either rule is broken or hostile: the channel is destroyed
 * with ERR_PROTOCOL.
 */

import type { SecureChannel } from '../channel/secure-channel.ts';
import { abortError, withDeadline } from '../deadline.ts';
import { ErrorCode, NetcryptError } from '../errors.ts';
import {
  CONTROL_LANE,
  type ControlMessage,
  DATA_LANE,
  MAX_CONTROL_MESSAGE_BYTES,
  type ReceiverMessage,
  type SenderMessage,
  decodeControl,
  encodeControl,
} from './file-messages.ts';

export type Incoming = SenderMessage | { t: 'chunk'; data: Buffer };

/** How long one side waits for the other during a batch, by default (FileSendOptions.timeoutMs, FileReceiveOptions.timeoutMs). */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** More queued messages than an honest peer ever has outstanding (its credit allows a few dozen). */
const MAX_QUEUED = 4096;
/**
 * Control-message bytes a queue may hold unread. Content is bounded by the
 * credit granted and a manifest by replacing an unread one, so neither counts;
 * an honest peer has a few small messages outstanding (a `want`, some `credit`s).
 */
const CONTROL_QUEUE_BYTES = 64 * 1024;

/** Errors that mean the channel is gone (connection lost, peer misbehaved): a partial file is kept for resume. */
const channelErrors = new WeakSet<NetcryptError>();

export function isChannelGone(error: unknown): boolean {
  return error instanceof NetcryptError && channelErrors.has(error);
}

export function isFromPeer(error: unknown): boolean {
  return error instanceof NetcryptError && error.origin === 'peer';
}

export function peerFailure(who: 'sender' | 'receiver', code: ErrorCode, message: string): NetcryptError {
  return new NetcryptError(code, `${who} reported: ${message}`, { origin: 'peer' });
}

function protocolError(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, `file transfer: ${message}`);
}

/** How long a read of the peer's next message may wait, and what the peer failed to do if it times out. */
export interface Wait {
  timeoutMs: number;
  silence: string;
}

/** A single-consumer queue, bounded in items and bytes: items first, then the failure that ended it. */
class MessageQueue<T> {
  readonly #items: T[] = [];
  /** Bytes each queued item counts against #maxBytes, in step with #items. */
  readonly #sizes: number[] = [];
  #bytes = 0;
  readonly #maxBytes: number;
  #waiter?: { resolve: (item: T) => void; reject: (error: unknown) => void };
  #error?: NetcryptError;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Queues `item`, which counts `bytes` (0 for one bounded otherwise) against the queue's limit until it is taken. */
  push(item: T, bytes: number): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      return waiter.resolve(item);
    }
    if (this.#items.length >= MAX_QUEUED || this.#bytes + bytes > this.#maxBytes) {
      throw protocolError('peer sent too many messages without waiting for answers');
    }
    this.#items.push(item);
    this.#sizes.push(bytes);
    this.#bytes += bytes;
  }

  #shift(): T {
    this.#bytes -= this.#sizes.shift()!;
    return this.#items.shift()!;
  }

  clear(): void {
    this.#items.length = 0;
    this.#sizes.length = 0;
    this.#bytes = 0;
  }

  /** Whether an item not yet taken matches. */
  holds(predicate: (item: T) => boolean): boolean {
    return this.#items.some(predicate);
  }

  fail(error: NetcryptError): void {
    this.#error ??= error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.#error);
  }

  /** The next item; waiting longer than `wait.timeoutMs` for it is ERR_TIMEOUT, `wait.silence` saying what the peer failed to do. */
  next(signal?: AbortSignal, wait?: Wait): Promise<T> {
    // An abort wins over queued items: with a fast peer the whole file may already be queued.
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#items.length > 0) return Promise.resolve(this.#shift());
    if (this.#error) return Promise.reject(this.#error);
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        this.#waiter = undefined;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        settle();
        reject(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (wait) {
        timer = setTimeout(() => {
          settle();
          reject(new NetcryptError(ErrorCode.TIMEOUT, `${wait.silence} within ${wait.timeoutMs} ms`));
        }, wait.timeoutMs);
      }
      this.#waiter = {
        resolve: (item) => {
          settle();
          resolve(item);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
    });
  }
}

const lanesOf = new WeakMap<SecureChannel, FileLanes>();

/** The file lanes of `channel`, claimed on first use by either role. */
export function fileLanes(channel: SecureChannel): FileLanes {
  let lanes = lanesOf.get(channel);
  if (!lanes) {
    lanes = new FileLanes(channel);
    lanesOf.set(channel, lanes);
  }
  return lanes;
}

export class FileLanes {
  readonly channel: SecureChannel;
  /** What the peer's sending role says, and content: read by this side's receiving role. */
  readonly toReceiver = new MessageQueue<Incoming>(CONTROL_QUEUE_BYTES);
  /** What the peer's receiving role says: read by this side's sending role. */
  readonly toSender = new MessageQueue<ReceiverMessage>(CONTROL_QUEUE_BYTES);
  #nextBatchId = 1;
  /** The newest incoming batch; content is accepted only for it, and only within #credit. */
  #incomingId = 0;
  #credit = 0;
  /** After a failed incoming batch, content still in flight is dropped until the next manifest. */
  #discarding = false;
  #sendTurn: Promise<unknown> = Promise.resolve();
  #receiveTurn: Promise<unknown> = Promise.resolve();
  #closeError?: NetcryptError;

  constructor(channel: SecureChannel) {
    this.channel = channel;
    if (channel.transport.destroyed) this.#onClose(new NetcryptError(ErrorCode.CLOSED, 'channel is closed'));
    channel.once('close', (error) => this.#onClose(error ?? new NetcryptError(ErrorCode.CLOSED, 'channel closed during a file transfer')));
    channel.onLane(CONTROL_LANE, (message) => this.#onControl(message), { maxMessageBytes: MAX_CONTROL_MESSAGE_BYTES });
    channel.onLane(DATA_LANE, (chunk) => this.#onContent(chunk));
  }

  #onClose(error: NetcryptError): void {
    if (this.#closeError) return;
    this.#closeError = error;
    channelErrors.add(error);
    this.toReceiver.fail(error);
    this.toSender.fail(error);
  }

  // Both handlers run inside the channel's record processing: a throw destroys the channel.

  #onControl(bytes: Buffer): void {
    const message = decodeControl(bytes);
    switch (message.t) {
      case 'manifest':
        if (message.id <= this.#incomingId) throw protocolError('batch ids must increase');
        // An honest sender starts a new batch only after the last one ended or failed: an unread
        // manifest still queued belongs to a batch given up before anyone received it. Drop it
        // and all that followed it, so decoded manifests can never pile up.
        if (this.toReceiver.holds((item) => item.t === 'manifest')) this.toReceiver.clear();
        this.#incomingId = message.id;
        this.#credit = 0;
        this.#discarding = false;
        return this.toReceiver.push(message, 0);
      case 'start':
      case 'end':
      case 'send-failed':
        return this.toReceiver.push(message, bytes.length);
      default:
        return this.toSender.push(message, bytes.length);
    }
  }

  #onContent(chunk: Buffer): void {
    if (this.#discarding) return;
    if (chunk.length > this.#credit) throw protocolError('peer sent file content beyond the granted credit');
    this.#credit -= chunk.length;
    this.toReceiver.push({ t: 'chunk', data: chunk }, 0);
  }

  // ── for the sending role ──────────────────────────────────────────────

  nextBatchId(): number {
    return this.#nextBatchId++;
  }

  /** Runs outgoing batches one at a time. */
  sendTurn<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#sendTurn.then(work, work);
    this.#sendTurn = result.catch(() => {});
    return result;
  }

  sendContent(chunk: Uint8Array): Promise<void> {
    return this.#sendOn(DATA_LANE, chunk);
  }

  // ── for the receiving role ────────────────────────────────────────────

  /** Runs incoming batches one at a time. */
  receiveTurn<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#receiveTurn.then(work, work);
    this.#receiveTurn = result.catch(() => {});
    return result;
  }

  /** The newest batch announced by the peer; messages of older ones are stale. */
  get incomingId(): number {
    return this.#incomingId;
  }

  /** Sets the content credit for the start of a file of batch `id` (a fresh window, nothing carried over). */
  openWindow(id: number, bytes: number): void {
    if (id === this.#incomingId && !this.#discarding) this.#credit = bytes;
  }

  /** Adds credit as content is written; the caller tells the sender with a `credit` message. */
  grant(id: number, bytes: number): void {
    if (id === this.#incomingId && !this.#discarding) this.#credit += bytes;
  }

  /** Batch `id` failed on this side: content still in flight for it is dropped. */
  stopContent(id: number): void {
    if (id !== this.#incomingId) return;
    this.#discarding = true;
    this.#credit = 0;
  }

  // ── both ──────────────────────────────────────────────────────────────

  send(message: ControlMessage): Promise<void> {
    return this.#sendOn(CONTROL_LANE, encodeControl(message));
  }

  /**
   * Sends the last word of a batch (`done`, or a failure report) and waits
   * until it is on the wire, not just queued: the caller's promise settles
   * next, and the process may exit at once. Never throws: if the channel is
   * gone there is nobody to tell, and a peer that has not read for
   * `timeoutMs` gets the channel ended instead.
   */
  async report(message: ControlMessage, timeoutMs: number): Promise<void> {
    const delivered = this.send(message).then(() => this.channel.flush());
    try {
      await withDeadline(delivered, { what: 'file transfer report', timeoutMs });
    } catch (error) {
      if (!this.#closeError) this.channel.destroy(error instanceof NetcryptError ? error : undefined);
    }
  }

  /** A send that fails because the channel went away fails with the channel's own error, so callers see it as such. */
  async #sendOn(lane: number, bytes: Uint8Array): Promise<void> {
    try {
      await this.channel.sendOnLane(lane, bytes);
    } catch (error) {
      throw this.#closeError ?? error;
    }
  }

  /** The peer broke the protocol outside a lane handler: end the channel, and return the error to throw. */
  violation(message: string): NetcryptError {
    const error = protocolError(message);
    this.channel.destroy(error);
    return error;
  }
}
