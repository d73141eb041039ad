/**
 * Request/response on lane 3 (docs/PROTOCOL.md §3.1): each side may call
 * the other and answer the other's calls at the same time, many of each in
 * flight, correlated by id.
 *
 * Ids increase in each direction (1, 2, 3, …; a request the send queue
 * refused leaves a gap), so one number per direction tells every case apart
 * without remembering old ids: an answer to an id above the last one sent
 * was never asked for (ERR_PROTOCOL); one to an id below it that no longer
 * waits was cancelled or timed out here, and is dropped.
 *
 * Memory is bounded both ways: this side waits for at most
 * `maxPendingRequests` answers (request() refuses more at once), and holds at
 * most MAX_OUTSTANDING_REQUESTS of the peer's requests — a peer that sends
 * more has broken the protocol's limit and the channel ends. What the
 * handlers produce is bounded too: while ANSWER_BACKLOG_BYTES of answers
 * wait for a peer that does not read them, or more than 128 handlers still
 * run for requests the peer cancelled, new requests wait (outstanding, so
 * within the 128) before their handler starts. An answered or cancelled
 * request no longer counts against the 128, so that count alone would let
 * a peer pile up answers, or running handlers, without end. The channel
 * keeps reading meanwhile: two sides that stopped reading while their
 * answers wait for each other would never resume.
 */

import { abortError, checkTimeout } from '../deadline.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import {
  MAX_OUTSTANDING_REQUESTS,
  MAX_REQUEST_BODY_BYTES,
  MAX_REQUEST_ID,
  REMOTE_CODE,
  REQUEST_LANE,
  type RequestMessage,
  decodeRequestMessage,
  encodeCancel,
  encodeError,
  encodeReply,
  encodeRequest,
} from '../wire/request-messages.ts';
import type { SecureChannel } from './secure-channel.ts';

export interface RequestOptions {
  /** Rejects with ERR_TIMEOUT, and cancels the request at the peer, after this long without an answer. */
  timeoutMs?: number;
  /** Aborting rejects with ERR_ABORTED and cancels the request at the peer. */
  signal?: AbortSignal;
}

export interface RequestContext {
  /** Aborts when the caller cancels (its timeout or abort) or the channel ends; the answer is then dropped. */
  signal: AbortSignal;
}

export type RequestHandler = (data: Buffer, context: RequestContext) => Uint8Array | string | Promise<Uint8Array | string>;

/** Remote codes this side sends for failures that are not the handler's own. */
export const RemoteCode = {
  /** The peer has no request handler. */
  NO_HANDLER: 'ERR_NO_HANDLER',
  /** The handler threw something without a usable code. */
  HANDLER_FAILED: 'ERR_HANDLER_FAILED',
} as const;

export function checkMaxPendingRequests(value: number | undefined): number {
  const max = value ?? MAX_OUTSTANDING_REQUESTS;
  if (!Number.isInteger(max) || max < 1 || max > MAX_OUTSTANDING_REQUESTS) {
    throw invalidArgument(`maxPendingRequests must be an integer between 1 and ${MAX_OUTSTANDING_REQUESTS}`);
  }
  return max;
}

interface Pending {
  resolve: (reply: Buffer) => void;
  reject: (error: NetcryptError) => void;
  timer?: NodeJS.Timeout;
  signal?: AbortSignal;
}

/** The requests waiting on one AbortSignal, and the one listener that cancels them all. */
interface SignalWatch {
  ids: Set<number>;
  onAbort: () => void;
}

/** A peer's request this side has not answered yet; `body` is set while it waits for a handler. */
interface Incoming {
  controller: AbortController;
  body?: Buffer;
  /** What it counts against the channel's inbound budget while it is handled. */
  bytes: number;
  /** Its handler has been called and has not returned yet. */
  running?: boolean;
  /** Cancelled while its handler ran: it counts in `#abandonedRunning` until the handler returns. */
  abandoned?: boolean;
}

/** Each request being handled counts its body and this much more, so floods of empty ones are bounded too. */
const INCOMING_OVERHEAD_BYTES = 256;
/** Bytes of answers not yet handed to the transport above which the peer's next requests wait for their handler. */
export const ANSWER_BACKLOG_BYTES = 4 * 1024 * 1024;

export interface RequestLaneOptions {
  maxPendingRequests: number;
  /** The channel's failure, if any: what requests made after it reject with. */
  channelError: () => NetcryptError | undefined;
  /** Called when requests being handled let go of their bytes (heldBytes went down). */
  onRelease?: () => void;
}

/** Answers and cancels are never refused by the send-queue limit. */
const OWED = { owed: true } as const;

function protocolError(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, `requests: ${message}`);
}

function closedError(message = 'channel is closed'): NetcryptError {
  return new NetcryptError(ErrorCode.CLOSED, message);
}

/** The code to report for what a handler threw: a NetcryptError's, or a safe `code` string, else a generic one. */
function remoteCodeOf(error: unknown): string {
  if (error instanceof NetcryptError) return error.code;
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && REMOTE_CODE.test(code) ? code : RemoteCode.HANDLER_FAILED;
}

function remoteTextOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  return 'the request handler failed';
}

export class RequestLane {
  readonly #channel: SecureChannel;
  readonly #maxPending: number;
  readonly #channelError: () => NetcryptError | undefined;
  readonly #onRelease?: () => void;
  /** Bytes of answers this side has sent that the transport has not taken yet. */
  #answerBacklog = 0;
  /** Handlers still running for requests the peer cancelled: they no longer count for the peer, but still run here. */
  #abandonedRunning = 0;
  #handler?: RequestHandler;

  /** The id of the next request this side sends. */
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  /** One 'abort' listener per signal, however many requests share it (Node warns from the eleventh on). */
  readonly #watches = new Map<AbortSignal, SignalWatch>();
  /** The id of the peer's last request; its next must be greater. */
  #lastIncomingId = 0;
  readonly #incoming = new Map<number, Incoming>();
  #heldBytes = 0;
  /** Set while requests that came before any handler wait for the end of this turn of the event loop. */
  #noHandlerCheck?: NodeJS.Immediate;
  #ended?: NetcryptError;

  constructor(channel: SecureChannel, options: RequestLaneOptions) {
    this.#channel = channel;
    this.#maxPending = options.maxPendingRequests;
    this.#channelError = options.channelError;
    this.#onRelease = options.onRelease;
    channel.once('end', () => this.#rejectPending(closedError('the peer closed the channel before answering')));
    channel.once('close', (error) => this.#onClose(error ?? closedError()));
  }

  /** Bytes of the peer's requests this side is handling: peer data it holds, for the channel's inbound budget. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** New requests wait for their handler: answers back up at a peer that does not read, or cancelled handlers still run. */
  get #saturated(): boolean {
    return this.#answerBacklog > ANSWER_BACKLOG_BYTES || this.#abandonedRunning > MAX_OUTSTANDING_REQUESTS;
  }

  /** Requests either way still waiting for their answer: the channel is not idle while there are any. */
  get inFlight(): number {
    return this.#pending.size + this.#incoming.size;
  }

  // ── calling the peer ───────────────────────────────────────────────────

  request(body: Uint8Array, options: RequestOptions = {}): Promise<Buffer> {
    const { timeoutMs, signal } = options;
    try {
      if (timeoutMs !== undefined) checkTimeout(timeoutMs);
      if (body.length > MAX_REQUEST_BODY_BYTES) throw invalidArgument(`request of ${body.length} bytes exceeds ${MAX_REQUEST_BODY_BYTES}`);
      if (signal?.aborted) throw abortError(signal, 'request');
      if (this.#channel.closed || this.#ended) throw this.#channelError() ?? this.#ended ?? closedError();
      if (this.#pending.size >= this.#maxPending) {
        throw new NetcryptError(ErrorCode.TOO_MANY_REQUESTS, `${this.#pending.size} requests already wait for replies (maxPendingRequests)`);
      }
      if (this.#nextId > MAX_REQUEST_ID) throw new NetcryptError(ErrorCode.PROTOCOL, 'request ids exhausted'); // after 2^53 - 1 requests
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.#nextId++;
    const reply = new Promise<Buffer>((resolve, reject) => {
      const pending: Pending = { resolve, reject };
      if (timeoutMs !== undefined) {
        pending.timer = setTimeout(() => this.#cancel(id, new NetcryptError(ErrorCode.TIMEOUT, `request timed out after ${timeoutMs} ms`)), timeoutMs);
      }
      if (signal) {
        pending.signal = signal;
        this.#watch(signal, id);
      }
      this.#pending.set(id, pending);
    });
    this.#channel.sendOnLane(REQUEST_LANE, encodeRequest(id, body)).catch((error: unknown) => {
      this.#settle(id)?.reject(error instanceof NetcryptError ? error : closedError());
    });
    return reply;
  }

  /** The caller gave up: its promise rejects now, and the peer is told so its handler can stop. */
  #cancel(id: number, error: NetcryptError): void {
    const pending = this.#settle(id);
    if (!pending) return;
    pending.reject(error);
    // Owed: a CANCEL the peer never got would leave the request counted there, and the next one over its limit.
    if (!this.#channel.closed) this.#channel.sendOnLane(REQUEST_LANE, encodeCancel(id), OWED).catch(() => {});
  }

  /** Forgets request `id` and returns what waited for it, if anything still did. */
  #settle(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (pending.signal) this.#unwatch(pending.signal, id);
    return pending;
  }

  #watch(signal: AbortSignal, id: number): void {
    let watch = this.#watches.get(signal);
    if (!watch) {
      const ids = new Set<number>();
      watch = { ids, onAbort: () => [...ids].forEach((waiting) => this.#cancel(waiting, abortError(signal, 'request'))) };
      this.#watches.set(signal, watch);
      signal.addEventListener('abort', watch.onAbort, { once: true });
    }
    watch.ids.add(id);
  }

  #unwatch(signal: AbortSignal, id: number): void {
    const watch = this.#watches.get(signal)!;
    watch.ids.delete(id);
    if (watch.ids.size > 0) return;
    this.#watches.delete(signal);
    signal.removeEventListener('abort', watch.onAbort);
  }

  #rejectPending(error: NetcryptError): void {
    this.#ended ??= error;
    for (const id of [...this.#pending.keys()]) this.#settle(id)!.reject(error);
  }

  // ── answering the peer ─────────────────────────────────────────────────

  /**
   * Sets the handler for the peer's requests (replacing any earlier one).
   * Requests that arrived before the first handler wait for it until the end
   * of the event-loop turn they arrived in, then are answered ERR_NO_HANDLER.
   */
  onRequest(handler: RequestHandler): void {
    if (typeof handler !== 'function') throw invalidArgument('onRequest needs a function');
    this.#handler = handler;
    this.#runWaiting();
  }

  /** Starts the handler for requests that wait for one (or for room, #saturated), oldest first. */
  #runWaiting(): void {
    if (!this.#handler) return;
    for (const [id, incoming] of this.#incoming) {
      if (this.#saturated) return;
      if (incoming.body === undefined) continue;
      const body = incoming.body;
      incoming.body = undefined;
      this.#run(id, body, incoming);
    }
  }

  // ── the lane ───────────────────────────────────────────────────────────

  /** Runs inside the channel's record processing: a throw ends the channel with that error. */
  receive(bytes: Buffer): void {
    const message = decodeRequestMessage(bytes);
    switch (message.kind) {
      case 'request':
        return this.#onRequest(message.id, message.body);
      case 'cancel':
        return this.#onCancel(message.id);
      default:
        return this.#onAnswer(message);
    }
  }

  #onRequest(id: number, received: Buffer): void {
    if (id <= this.#lastIncomingId) throw protocolError(`request id ${id} after ${this.#lastIncomingId}; ids must increase`);
    this.#lastIncomingId = id;
    if (this.#incoming.size >= MAX_OUTSTANDING_REQUESTS) throw protocolError(`the peer has more than ${MAX_OUTSTANDING_REQUESTS} requests outstanding`);
    // After this side's CLOSE no answer can go (§3.1): the peer learns it from the CLOSE, no handler needs to run.
    if (this.#channel.closed) return;
    const body = ownBytes(received);
    const incoming: Incoming = { controller: new AbortController(), bytes: body.length + INCOMING_OVERHEAD_BYTES };
    this.#incoming.set(id, incoming);
    this.#heldBytes += incoming.bytes;
    if (this.#handler && !this.#saturated) return this.#run(id, body, incoming);
    incoming.body = body;
    if (!this.#handler) this.#noHandlerCheck ??= setImmediate(() => this.#answerUnhandled());
  }

  #answerUnhandled(): void {
    this.#noHandlerCheck = undefined;
    if (this.#handler) return; // set meanwhile: what waits, waits for room, not for a handler
    for (const [id, incoming] of this.#incoming) {
      if (incoming.body === undefined) continue;
      incoming.body = undefined;
      this.#answer(id, incoming, () => encodeError(id, RemoteCode.NO_HANDLER, 'no request handler on this side'));
    }
  }

  /** The handler runs after the record processing that delivered the request, not inside it. */
  #run(id: number, body: Buffer, incoming: Incoming): void {
    const handler = this.#handler!;
    const result = Promise.resolve().then(() => {
      // Cancelled, or the channel ended, before the handler started: #answer drops whatever this returns.
      if (this.#incoming.get(id) !== incoming) return '';
      incoming.running = true;
      return handler(body, { signal: incoming.controller.signal });
    });
    const returned = () => {
      incoming.running = false;
      if (incoming.abandoned) this.#changeAbandoned(-1);
    };
    result.then(
      (reply) => {
        returned();
        this.#answer(id, incoming, () => encodeReply(id, replyBytes(reply)));
      },
      (error: unknown) => {
        returned();
        this.#answer(id, incoming, () => encodeError(id, remoteCodeOf(error), remoteTextOf(error)));
      },
    );
  }

  /** Sends the answer unless the request was cancelled or the channel ended meanwhile. */
  #answer(id: number, incoming: Incoming, encode: () => Buffer): void {
    if (this.#incoming.get(id) !== incoming) return;
    this.#forget(id, incoming);
    let bytes: Buffer;
    try {
      bytes = encode();
    } catch (error) {
      // The handler's reply could not be sent (too large, not bytes): the caller hears why.
      bytes = encodeError(id, remoteCodeOf(error), remoteTextOf(error));
    }
    // Owed: the caller waits for it, so the send-queue limit does not refuse it; the backlog bounds them instead.
    // A channel that is gone leaves nobody to answer.
    this.#changeBacklog(bytes.length);
    this.#channel
      .sendOnLane(REQUEST_LANE, bytes, OWED)
      .catch(() => {})
      .then(() => this.#changeBacklog(-bytes.length));
  }

  #changeAbandoned(count: number): void {
    this.#abandonedRunning += count;
    if (count < 0) this.#runWaiting();
  }

  #changeBacklog(bytes: number): void {
    this.#answerBacklog += bytes;
    if (bytes < 0) this.#runWaiting();
  }

  /** The request is answered or cancelled: it no longer counts, nor do its bytes. */
  #forget(id: number, incoming: Incoming): void {
    this.#incoming.delete(id);
    this.#heldBytes -= incoming.bytes;
    this.#onRelease?.();
  }

  #onCancel(id: number): void {
    if (id > this.#lastIncomingId) throw protocolError(`CANCEL for request ${id}, which the peer never sent`);
    const incoming = this.#incoming.get(id);
    // Already answered: the cancel crossed the answer.
    if (!incoming) return;
    this.#forget(id, incoming);
    if (incoming.running) {
      incoming.abandoned = true;
      this.#changeAbandoned(1);
    }
    incoming.controller.abort(new NetcryptError(ErrorCode.ABORTED, 'the peer cancelled the request', { origin: 'peer' }));
  }

  #onAnswer(message: RequestMessage & { kind: 'reply' | 'error' }): void {
    const pending = this.#settle(message.id);
    if (!pending) {
      if (message.id < this.#nextId) return; // a request this side stopped waiting for
      throw protocolError(`answer to request ${message.id}, which this side never sent`);
    }
    if (message.kind === 'reply') pending.resolve(ownBytes(message.body));
    else pending.reject(new NetcryptError(ErrorCode.REMOTE, message.message, { origin: 'peer', remoteCode: message.code }));
  }

  #onClose(error: NetcryptError): void {
    this.#rejectPending(error);
    clearImmediate(this.#noHandlerCheck);
    const incoming = [...this.#incoming.values()];
    this.#incoming.clear();
    this.#heldBytes = 0;
    for (const { controller } of incoming) controller.abort(error);
  }
}

/**
 * A body as a buffer of its own. Received bodies are views into the record
 * they arrived in (up to 64 KiB, the rest of it possibly messages that were
 * dropped): held by a handler or by the caller, such a view would keep the
 * whole record alive while a request counts only its own bytes.
 */
function ownBytes(body: Buffer): Buffer {
  if (body.buffer.byteLength - body.length <= INCOMING_OVERHEAD_BYTES) return body;
  const copy = Buffer.allocUnsafeSlow(body.length);
  body.copy(copy);
  return copy;
}

function replyBytes(reply: Uint8Array | string): Uint8Array {
  if (typeof reply === 'string') return Buffer.from(reply, 'utf8');
  if (reply instanceof Uint8Array) return reply;
  throw invalidArgument('a request handler must return a Buffer, Uint8Array or string');
}
