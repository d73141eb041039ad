/**
 * A SecureChannel drives the sans-I/O handshake over a connected transport
 * — any byte-stream Duplex: a TCP socket, a SOCKS or TLS socket, a
 * WebSocket stream, a child's stdio, an in-memory pair — then carries
 * messages as netcrypt/1 records: fragmented to at most 64 KiB per record,
 * reassembled up to `maxMessageBytes`, with backpressure both ways and an
 * authenticated close. It owns the transport from construction.
 *
 * Messages travel on lanes: lane 0 is the application's (`send`,
 * `receive`, async iteration, 'message'); lane 3 to request/response
 * (requests.ts); the others to layers above (file transfer). They never mix.
 */

import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Backend } from '../backend/types.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { Handshake, type PeerIdentity } from '../handshake/handshake.ts';
import { verificationCode } from '../handshake/verification-code.ts';
import type { Fingerprint, Identity } from '../keys/identity.ts';
import { decodeAlertRecord, peerAlertError } from '../wire/alerts.ts';
import { FrameDecoder } from '../wire/frames.ts';
import { MAX_HANDSHAKE_FRAME, type Role } from '../wire/handshake-messages.ts';
import { BATCH_ITEM_MAX, MessageAssembler } from '../wire/messages.ts';
import { RecordWriter } from '../wire/record-writer.ts';
import {
  type KeyUpdatePolicy,
  LANE_COUNT,
  type RandomSource,
  type RecordOpener,
  type SuiteName,
  parseRecordType,
} from '../wire/records.ts';
import { abortError, checkTimeout, withDeadline } from '../deadline.ts';
import { IdleTimer } from './idle-timer.ts';
import { KeepAlive, PingAnswerer, unansweredPong } from './keep-alive.ts';
import { waitForDrain } from './socket-waits.ts';
import { MAX_REQUEST_MESSAGE_BYTES, REQUEST_LANE } from '../wire/request-messages.ts';
import { type RequestHandler, RequestLane, type RequestOptions, checkMaxPendingRequests } from './requests.ts';

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * Unread application messages above this many bytes pause the socket. Each
 * message counts its length plus a fixed overhead, so floods of empty or
 * tiny messages are bounded too.
 */
const INBOX_HIGH_WATER = 4 * 1024 * 1024;
const INBOX_MESSAGE_OVERHEAD = 256;
const CLOSE_TIMEOUT_MS = 5_000;
/** How long a side that sent an alert keeps the socket for it to leave. */
const ALERT_LINGER_MS = 2_000;
/** How long a channel the peer has closed stays open for this side's last sends. */
const HALF_CLOSED_LINGER_MS = 30_000;
const RESOLVED = Promise.resolve();
/** A zero-length socket write: its callback runs once everything written before it has left the process. */
const EMPTY = new Uint8Array(0);
/**
 * Sealed bytes queued in the socket beyond this make a send wait for
 * 'drain'. The socket's own 16 KiB mark would stall after every 64 KiB
 * record and keep sealing and sending from overlapping.
 */
const SEND_BUFFER_BYTES = 1024 * 1024;
/** Lane messages held for a layer that has not attached yet: enough for a file offer or two, no more. */
const MAX_UNCLAIMED_MESSAGES = 16;
const MAX_UNCLAIMED_BYTES = 1024 * 1024;

export const APPLICATION_LANE = 0;

/**
 * Bytes a channel may hold for a peer that does not read, under the 'fail'
 * and 'drop' policies: far more than a reading peer ever leaves queued (the
 * channel stops sealing at 1 MiB in the socket, so a sender that awaits its
 * sends holds about that plus one message), so only a stalled peer reaches
 * it; small enough that a server with a few hundred stalled peers is not out
 * of memory.
 */
export const DEFAULT_SEND_QUEUE_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * What a send does when `bufferedAmount` would pass `sendQueueLimitBytes`:
 * 'wait' (default) accepts it and resolves once the socket has taken it, as
 * every send does; 'fail' rejects that send at once with ERR_SEND_QUEUE_FULL
 * and sends none of it; 'drop' destroys the channel with ERR_SEND_QUEUE_FULL.
 */
export type SendQueuePolicy = 'wait' | 'fail' | 'drop';

/**
 * Memory shared by many channels (a server's): a channel charges it for
 * the peer's bytes it holds — a frame still arriving, messages still being
 * assembled, lane messages no layer has claimed — before it takes them, and
 * refunds what it lets go.
 */
export interface InboundBudget {
  /** False refuses the bytes: the channel then fails with ERR_BUDGET_EXCEEDED. */
  charge(bytes: number): boolean;
  refund(bytes: number): void;
}

export interface ChannelSetup {
  role: Role;
  identity: Identity;
  backend: Backend;
  /**
   * Decides whether to go on with the peer's key. Throw (e.g. ERR_PEER_KEY_MISMATCH)
   * to refuse; the handshake then stops before this side sends anything secret.
   */
  verifyPeer?: (peer: PeerIdentity) => void | Promise<void>;
  maxMessageBytes?: number;
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
  /** Deterministic randomness for the protocol document's examples only. */
  random?: RandomSource;
  inboundBudget?: InboundBudget;
  /** A message whose first fragment is older than this fails the channel with ERR_TIMEOUT (default: no limit). */
  unfinishedMessageTimeoutMs?: number;
  /** The record suites to offer (default: all, the fastest both offer wins). */
  suites?: readonly SuiteName[];
  /** When to ratchet the sending key by itself; `false` offers no key updates (see HandshakeOptions). */
  keyUpdate?: KeyUpdatePolicy | false;
  /** Most of this side's requests waiting for replies at once (default and maximum 128); more reject with ERR_TOO_MANY_REQUESTS. */
  maxPendingRequests?: number;
  /** The send queue's limit in bytes (default DEFAULT_SEND_QUEUE_LIMIT_BYTES); see SendQueuePolicy. */
  sendQueueLimitBytes?: number;
  sendQueuePolicy?: SendQueuePolicy;
  /**
   * After this long with nothing received, send a PING; a peer that then
   * stays silent is declared dead, ERR_TIMEOUT, within keepAliveMs × 3 of
   * its last byte (default: no keepalive).
   */
  keepAliveMs?: number;
  /** Closes the channel (authenticated close, closeReason 'idle') after this long without application messages either way (default: never). */
  idleTimeoutMs?: number;
}

/** Who began the authenticated close: this side's close(), the peer's CLOSE, or this side's idleTimeoutMs. */
export type CloseReason = 'local' | 'peer' | 'idle';

/** `channel.readyState`, like ws's: see SecureChannel for the transitions. */
export type ReadyState = 'handshaking' | 'open' | 'closing' | 'closed';

/**
 * readyState, with 'closing' told apart: close() called but this side's
 * CLOSE not sealed yet (sends before it go first), then which CLOSE has
 * crossed — this side's, the peer's, or both.
 */
type Lifecycle = 'handshaking' | 'open' | 'close-requested' | 'closing-sent' | 'closing-received' | 'closing-both' | 'closed';

export interface ReceiveOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface SendOptions {
  signal?: AbortSignal;
}

/** For layers above (sendOnLane). */
export interface LaneSendOptions extends SendOptions {
  /**
   * A protocol message the peer waits for, bounded by that layer (e.g. the
   * answer to a request): the send-queue limit does not refuse it.
   */
  owed?: boolean;
}

type LaneHandler = (message: Buffer) => void;

/** A message send() accepted: how far it is sealed, and how many of its bytes still count as queued. */
interface Outgoing {
  readonly lane: number;
  readonly message: Uint8Array;
  offset: number;
  queued: number;
}

/** The promise of the small messages waiting in the writer's batch for the end of the tick. */
interface PendingBatch {
  sent: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Waiter {
  resolve: (message: Buffer) => void;
  reject: (error: unknown) => void;
}

export interface SecureChannelEvents {
  /**
   * An application message. Each message goes to exactly one consumer: the
   * oldest pending receive() (async iteration is receive() too) if there is
   * one; otherwise the 'message' listeners, if any are attached; otherwise
   * it waits in the channel's queue for the next receive(). Attaching a
   * listener does not drain what is already queued.
   */
  message: [message: Buffer];
  /** The peer sent its authenticated close. */
  end: [];
  /**
   * The channel is finished. `error` is undefined exactly when it closed
   * cleanly (`closedCleanly`: both CLOSE records crossed); otherwise it is
   * the reason — the failure, or ERR_CLOSED for destroy() without an error
   * and for a close whose peer never answered.
   */
  close: [error?: NetcryptError];
}

function toBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  throw invalidArgument('data must be a Buffer, Uint8Array or string');
}

/** A record's plaintext pieces as Buffers: as they are from node:crypto; wasm's and noble's Uint8Arrays are wrapped, not copied. */
function asBuffers(pieces: Uint8Array[]): Buffer[] {
  if (pieces.every(Buffer.isBuffer)) return pieces as Buffer[];
  return pieces.map((piece) => (Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length)));
}

/** Anything thrown below us that is not already a NetcryptError is a bug or a peer we cannot parse. */
function asNetcryptError(error: unknown): NetcryptError {
  return error instanceof NetcryptError ? error : new NetcryptError(ErrorCode.PROTOCOL, String(error), { cause: error });
}

function lostConnection(cause?: unknown): NetcryptError {
  return new NetcryptError(ErrorCode.TRUNCATED, 'connection ended without an authenticated close', { cause });
}

/** A transport that can turn off Nagle's algorithm (net.Socket and its subclasses). */
function hasNoDelay(transport: Duplex): transport is Duplex & { setNoDelay(noDelay: boolean): unknown } {
  return typeof (transport as { setNoDelay?: unknown }).setNoDelay === 'function';
}

/**
 * One channel's life is one state, `readyState`:
 *
 * ```
 * 'handshaking' ─ handshake done ─▶ 'open' ─ close(), or the peer's CLOSE ─▶ 'closing' ─ both CLOSEs crossed, this side's end sent ─▶ 'closed'
 *       └──────────── a failure, destroy(), the handshake or the close deadline ────────────────────────────────────────────────▶ 'closed'
 * ```
 *
 * 'closing' begins when close() is called (by the application, by
 * idleTimeoutMs, by the half-closed linger) or the peer's CLOSE arrives.
 * Inside it the channel still knows how far the close is: sends made
 * before close() go out first, then this side's CLOSE, after which it
 * sends nothing; after the peer's CLOSE it receives nothing and may still
 * send. 'closed' with `closedCleanly` true — 'close' without an error — is
 * reached only through both CLOSEs; every other way carries the reason.
 * Nothing leaves 'closed'. (`closed` is true from the first CLOSE.)
 */
export class SecureChannel<T extends Duplex = Duplex> extends EventEmitter<SecureChannelEvents> {
  /**
   * The byte stream the records travel on, owned by the channel: read its
   * addresses or counters, but do not read, write, pause or end it.
   */
  readonly transport: T;
  readonly role: Role;
  readonly #setup: ChannelSetup;
  readonly #maxMessageBytes: number;
  readonly #sendQueueLimitBytes: number;
  readonly #sendQueuePolicy: SendQueuePolicy;
  readonly #decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME);
  readonly #handshake: Handshake;
  /** Seals what this side sends, once the handshake is done. */
  #writer?: RecordWriter;
  #opener?: RecordOpener;

  /** Settles when the peer's hello has been read and its key verified. */
  readonly peerKnown: Promise<PeerIdentity>;
  /** Settles when the handshake is complete. */
  readonly ready: Promise<void>;
  #resolvePeerKnown!: (peer: PeerIdentity) => void;
  #resolveReady!: () => void;
  #rejectHandshake!: (error: unknown) => void;

  #error?: NetcryptError;
  #state: Lifecycle = 'handshaking';
  /** The peer's CLOSE was read, but the rest of its data chunk not yet. */
  #peerCloseUnannounced = false;
  #closedCleanly = false;
  #closeReason?: CloseReason;
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;

  readonly #assembler: MessageAssembler;
  /** Request/response (lane 3), set up on first use by either side. */
  #requests?: RequestLane;
  readonly #maxPendingRequests: number;
  readonly #laneHandlers = new Map<number, LaneHandler>();
  /** Lane messages that arrived before their layer attached, bounded. */
  readonly #unclaimed: (Buffer[] | undefined)[] = new Array(LANE_COUNT);
  #unclaimedBytes = 0;
  readonly #inbox: Buffer[] = [];
  #inboxBytes = 0;
  readonly #waiters: Waiter[] = [];
  #sendTail: Promise<void> = Promise.resolve();
  #pendingSends = 0;
  /** Bytes of messages send() accepted that are neither sealed nor in the writer's batch yet. */
  #queuedBytes = 0;
  #batch?: PendingBatch;
  #closeTimer?: NodeJS.Timeout;
  #lingerTimer?: NodeJS.Timeout;
  /** Bytes charged to the inbound budget: at least what the decoder, the assembler and the unclaimed lanes hold. */
  #charged = 0;
  readonly #unfinishedTimeoutMs?: number;
  /** Per lane, when its message in progress began (performance.now()). */
  readonly #unfinishedSince: (number | undefined)[] = new Array(LANE_COUNT);
  #unfinishedTimer?: NodeJS.Timeout;
  readonly #keepAlive?: KeepAlive;
  readonly #pingAnswerer: PingAnswerer;
  readonly #idle?: IdleTimer;
  #corked = false;
  /** An alert is on its way out: the socket stays until it has left (#sendAlert). */
  #lingering = false;
  readonly #endOfTick = (): void => {
    this.#flushBatch();
    this.#corked = false;
    this.socket.uncork();
  };

  /**
   * `transport` must be connected (or, like a WebSocket stream, buffer writes
   * until it is) and not yet read from, and — as every real one — must not
   * emit 'data' from inside a write() call.
   */
  constructor(transport: T, setup: ChannelSetup) {
    super();
    this.transport = transport;
    this.role = setup.role;
    this.#setup = setup;
    this.#maxMessageBytes = setup.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isInteger(this.#maxMessageBytes) || this.#maxMessageBytes < 1) throw invalidArgument('maxMessageBytes must be a positive integer');
    this.#sendQueueLimitBytes = setup.sendQueueLimitBytes ?? DEFAULT_SEND_QUEUE_LIMIT_BYTES;
    if (!Number.isSafeInteger(this.#sendQueueLimitBytes) || this.#sendQueueLimitBytes < 1) throw invalidArgument('sendQueueLimitBytes must be a positive integer');
    this.#sendQueuePolicy = setup.sendQueuePolicy ?? 'wait';
    if (!['wait', 'fail', 'drop'].includes(this.#sendQueuePolicy)) throw invalidArgument("sendQueuePolicy must be 'wait', 'fail' or 'drop'");
    const handshakeTimeoutMs = checkTimeout(setup.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS, 'handshakeTimeoutMs');
    if (setup.unfinishedMessageTimeoutMs !== undefined) {
      this.#unfinishedTimeoutMs = checkTimeout(setup.unfinishedMessageTimeoutMs, 'unfinishedMessageTimeoutMs');
    }
    if (setup.keepAliveMs !== undefined) {
      this.#keepAlive = new KeepAlive(checkTimeout(setup.keepAliveMs, 'keepAliveMs'), {
        sendPing: (value) => this.#sendControl((writer) => writer.sealPing(value)),
        onDead: (error) => this.destroy(error),
        readingPaused: () => this.transport.isPaused(),
      });
    }
    this.#pingAnswerer = new PingAnswerer({
      canSend: () => !(this.transport.writableNeedDrain && this.transport.writableLength >= SEND_BUFFER_BYTES),
      sendPong: (value) => this.#sendControl((writer) => writer.sealPong(value)),
      whenDrained: (send) => this.transport.prependOnceListener('drain', send),
    });
    if (setup.idleTimeoutMs !== undefined) {
      // A send still under way (a large message waiting for 'drain') and a request in flight are traffic too.
      const busy = () => this.#pendingSends > 0 || (this.#requests?.inFlight ?? 0) > 0;
      this.#idle = new IdleTimer(checkTimeout(setup.idleTimeoutMs, 'idleTimeoutMs'), this.#closeIdle, busy);
    }
    this.#assembler = new MessageAssembler(this.#maxMessageBytes);
    this.#maxPendingRequests = checkMaxPendingRequests(setup.maxPendingRequests);
    this.onLane(REQUEST_LANE, (message) => this.#requestLane().receive(message), { maxMessageBytes: MAX_REQUEST_MESSAGE_BYTES });
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    const { role, identity, backend, random, suites, keyUpdate } = setup;
    this.#handshake = new Handshake({ role, identity, backend, random, suites, keyUpdate });
    this.peerKnown = new Promise((resolve, reject) => {
      this.#resolvePeerKnown = resolve;
      this.#rejectHandshake = reject;
    });
    const handshakeDone = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      const rejectPeer = this.#rejectHandshake;
      this.#rejectHandshake = (error) => {
        rejectPeer(error);
        reject(error);
      };
    });
    handshakeDone.catch(() => {});
    this.ready = withDeadline(handshakeDone, {
      timeoutMs: handshakeTimeoutMs,
      signal: setup.signal,
      what: 'handshake',
      onCancel: (error) => this.destroy(error),
    });
    // Callers that only await one of the two must not see an unhandled rejection from the other.
    this.peerKnown.catch(() => {});
    this.ready.catch(() => {});

    if (this.#finished) return; // the signal was already aborted
    if (hasNoDelay(transport)) transport.setNoDelay(true);
    transport.on('data', this.#onData);
    transport.on('end', this.#onEnd);
    transport.on('error', this.#onSocketError);
    transport.on('close', this.#onSocketClose);
    // A transport that died before we took it over (e.g. reset while our key was generated), whose
    // end someone else already read, or that was already ended on our side: none can carry a
    // handshake, and waiting for events that have passed would only run into the deadline.
    if (transport.destroyed || transport.readableEnded || !transport.writable) {
      this.destroy(lostConnection(transport.errored ?? undefined));
      return;
    }
    // A transport handed over paused (e.g. by the SOCKS dialer, holding early bytes) must flow now.
    transport.resume();
    this.#writeHandshake(this.#handshake.start());
  }

  /** @deprecated The same object as `transport`, under its name from when it was always a net.Socket. */
  get socket(): T {
    return this.transport;
  }

  get peer(): PeerIdentity | undefined {
    return this.#handshake.peer;
  }

  /** The peer's key fingerprint, `SHA256:…`, once its hello has arrived. */
  get peerFingerprint(): Fingerprint | undefined {
    return this.#handshake.peer?.fingerprint;
  }

  get localFingerprint(): Fingerprint {
    return this.#setup.identity.fingerprint;
  }

  /**
   * Once the handshake is done: a short code ("04217 88301 56293") derived
   * from the transcript hash. Both ends show the same code only if no one
   * is in the middle; read it to each other to check a first connection.
   */
  get verificationCode(): string | undefined {
    const session = this.#handshake.session;
    return session && verificationCode(session.transcriptHash);
  }

  /** The negotiated record suite, once the handshake is done. */
  get suite(): SuiteName | undefined {
    return this.#handshake.session?.suite.name;
  }

  get maxMessageBytes(): number {
    return this.#maxMessageBytes;
  }

  /**
   * True once the channel has ended cleanly: this side's CLOSE and the
   * peer's both crossed, with no failure. False while open, and for ever
   * after a failure, a destroy() or a close that timed out — the 'close'
   * event then carries the reason.
   */
  get closedCleanly(): boolean {
    return this.#closedCleanly;
  }

  /**
   * Who began the authenticated close — `'local'` (close()), `'peer'` (its
   * CLOSE came first) or `'idle'` (idleTimeoutMs) — once one has begun;
   * undefined before, and for a channel that failed without one.
   */
  get closeReason(): CloseReason | undefined {
    return this.#closeReason;
  }

  /** True once either side's CLOSE has crossed or the channel failed. */
  get closed(): boolean {
    return this.#sendingDone || this.#receivingDone;
  }

  /** Where the channel is in its life; the class doc has the transitions. */
  get readyState(): ReadyState {
    const state = this.#state;
    return state === 'handshaking' || state === 'open' || state === 'closed' ? state : 'closing';
  }

  /** readyState 'closed': nothing more happens. */
  get #finished(): boolean {
    return this.#state === 'closed';
  }

  /** This side has sent its CLOSE, or the channel is finished: it sends nothing more. */
  get #sendingDone(): boolean {
    const state = this.#state;
    return state === 'closing-sent' || state === 'closing-both' || state === 'closed';
  }

  /** The peer's CLOSE has arrived, or the channel is finished: nothing more arrives. */
  get #receivingDone(): boolean {
    const state = this.#state;
    return state === 'closing-received' || state === 'closing-both' || state === 'closed';
  }

  // ── sending ────────────────────────────────────────────────────────────

  /**
   * Bytes send() has accepted that have not been handed to the kernel yet:
   * sealed records queued in the socket, plus messages not sealed yet. What
   * a peer that stopped reading costs this side; see sendQueuePolicy.
   */
  get bufferedAmount(): number {
    return this.#queuedBytes + (this.#writer?.batchedBytes ?? 0) + this.socket.writableLength;
  }

  /** Sends one message; resolves once the socket has taken it (respecting backpressure). */
  async send(data: Uint8Array | string, options: SendOptions = {}): Promise<void> {
    await this.sendOnLane(APPLICATION_LANE, toBytes(data), options);
  }

  /** For layers above: sends a message on another lane. Messages on all lanes are serialised. */
  sendOnLane(lane: number, message: Uint8Array, options: LaneSendOptions = {}): Promise<void> {
    if (!Number.isInteger(lane) || lane < 0 || lane >= LANE_COUNT) return Promise.reject(invalidArgument('lane out of range'));
    // Other lanes' layers bound their own messages, as their specs say (onLane()).
    if (lane === APPLICATION_LANE && message.length > this.#maxMessageBytes) {
      return Promise.reject(invalidArgument(`message of ${message.length} bytes exceeds maxMessageBytes (${this.#maxMessageBytes})`));
    }
    this.#idle?.touch();
    // A failed channel queues nothing: a send behind one still waiting for the socket would hold its bytes until then.
    if (this.#error) return Promise.reject(this.#error);
    const full = options.owed ? undefined : this.#sendQueueFull(message.length);
    if (full) return Promise.reject(full);
    if (this.#pendingSends === 0 && this.#handshake.state === 'done' && message.length <= BATCH_ITEM_MAX && !options.signal) {
      try {
        this.#assertWritable();
      } catch (error) {
        return Promise.reject(error);
      }
      return this.#batchMessage(lane, message);
    }
    const outgoing: Outgoing = { lane, message, offset: 0, queued: message.length };
    this.#queuedBytes += message.length;
    const run = () => this.#writeMessage(outgoing, options.signal);
    // With nothing ahead of it a message is written at once — synchronously when the socket has room.
    const direct = this.#pendingSends === 0;
    this.#pendingSends++;
    const result = direct ? run() : this.#sendTail.then(run, run);
    this.#sendTail = result.catch(() => {});
    return result;
  }

  /**
   * Resolves once every message sent before the call has been handed to the
   * kernel (the socket's write callback), not merely queued in this process:
   * after it, exiting the process does not lose them. For acknowledgements
   * that a peer waits for, e.g. the file layer's final `done`.
   */
  async flush(): Promise<void> {
    await this.#sendTail;
    this.#assertWritable();
    // Messages batched this tick are sealed now, so the marker write below comes after their record.
    this.#flushBatch();
    await new Promise<void>((resolve, reject) => {
      this.socket.write(EMPTY, (error) => (error ? reject(this.#error ?? lostConnection(error)) : resolve()));
    });
  }

  /**
   * Ratchets this side's sending key now (a KEY_UPDATE record, docs/PROTOCOL.md
   * §3) instead of at the automatic limit; resolves once the record has been
   * handed to the kernel. ERR_PROTOCOL if the peer did not offer key updates.
   */
  async updateKeys(): Promise<void> {
    await this.ready;
    this.#assertWritable();
    this.#flushBatch();
    this.#writer!.sealKeyUpdate();
    this.#writeOutput();
    await new Promise<void>((resolve, reject) => {
      this.socket.write(EMPTY, (error) => (error ? reject(this.#error ?? lostConnection(error)) : resolve()));
    });
  }

  /**
   * Writes one message's records. Stays synchronous while the socket has
   * room, so the common small send costs no promise round trips; the
   * pending-send count is therefore settled synchronously too.
   */
  #writeMessage(outgoing: Outgoing, signal?: AbortSignal): Promise<void> {
    let rest: Promise<void> | undefined;
    try {
      if (signal?.aborted) throw abortError(signal);
      if (this.#handshake.state !== 'done') {
        rest = this.ready.then(() => {
          this.#assertWritable();
          return this.#writeFragments(outgoing, signal);
        });
      } else {
        this.#assertWritable();
        rest = this.#writeFragments(outgoing, signal);
      }
    } catch (error) {
      this.#settleSend(outgoing);
      return Promise.reject(error);
    }
    if (!rest) {
      this.#settleSend(outgoing);
      return RESOLVED;
    }
    return rest.finally(() => this.#settleSend(outgoing));
  }

  /**
   * Under 'fail' or 'drop', the error for a message that would take the
   * queue past its limit ('drop' ends the channel with it). A message alone
   * in an empty queue always goes, so no message size is unsendable.
   */
  #sendQueueFull(length: number): NetcryptError | undefined {
    if (this.#sendQueuePolicy === 'wait' || this.#error || this.#finished) return undefined;
    const buffered = this.bufferedAmount;
    if (buffered === 0 || buffered + length <= this.#sendQueueLimitBytes) return undefined;
    const error = new NetcryptError(
      ErrorCode.SEND_QUEUE_FULL,
      `the peer has not taken ${buffered} bytes sent before; with ${length} more the send queue would pass its limit of ${this.#sendQueueLimitBytes}`,
    );
    if (this.#sendQueuePolicy === 'drop') this.destroy(error);
    return error;
  }

  /** The message is done with, sent or not: it no longer counts as queued. */
  #settleSend(outgoing: Outgoing): void {
    this.#pendingSends--;
    this.#unqueue(outgoing, outgoing.queued);
  }

  #unqueue(outgoing: Outgoing, bytes: number): void {
    outgoing.queued -= bytes;
    this.#queuedBytes -= bytes;
  }

  /**
   * Writes the rest of a message; returns a promise only if it had to wait
   * for 'drain'. A small message has one encoding, a BATCH entry, whichever
   * path it takes.
   */
  #writeFragments(outgoing: Outgoing, signal?: AbortSignal): Promise<void> | undefined {
    const { lane, message } = outgoing;
    if (message.length <= BATCH_ITEM_MAX) {
      this.#unqueue(outgoing, outgoing.queued);
      return this.#batchMessage(lane, message);
    }
    const writer = this.#writer!;
    for (;;) {
      const offset = writer.sealFragments(lane, message, outgoing.offset, SEND_BUFFER_BYTES - this.socket.writableLength);
      this.#unqueue(outgoing, offset - outgoing.offset);
      outgoing.offset = offset;
      const flushed = this.#writeOutput();
      if (!flushed) return this.#afterDrain(outgoing, signal);
      if (offset === message.length) return undefined;
    }
  }

  async #afterDrain(outgoing: Outgoing, signal?: AbortSignal): Promise<void> {
    const final = outgoing.offset === outgoing.message.length;
    try {
      // Once the last record is written the message is sent: an abort now would report as failed what the peer will receive.
      await waitForDrain(this.socket, final ? undefined : signal);
    } catch (error) {
      // A half-sent message would corrupt the lane for the peer: the channel cannot go on.
      if (!final) this.destroy(error instanceof NetcryptError ? error : lostConnection(error));
      // If the channel failed meanwhile, that failure (say ERR_TRUNCATED) is the one to report.
      throw this.#error ?? error;
    }
    if (final) return;
    this.#assertWritable();
    await this.#writeFragments(outgoing, signal);
  }

  #assertWritable(): void {
    if (this.#error) throw this.#error;
    if (this.#sendingDone) throw new NetcryptError(ErrorCode.CLOSED, 'channel is closed');
  }

  /** Adds a small message to this tick's batch; resolves when the batch's record is written. */
  #batchMessage(lane: number, message: Uint8Array): Promise<void> {
    const writer = this.#writer!;
    if (!writer.addToBatch(lane, message)) {
      this.#flushBatch();
      writer.addToBatch(lane, message);
    }
    if (!this.#batch) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const sent = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      this.#batch = { sent, resolve, reject };
      this.#corkUntilEndOfTick();
    }
    return this.#batch.sent;
  }

  /** Seals and writes this tick's batch, if any; its sends resolve once the socket has taken it. */
  #flushBatch(): void {
    const pending = this.#batch;
    if (!pending) return;
    this.#batch = undefined;
    try {
      this.#writer!.sealBatch();
      const flushed = this.#writeOutput();
      if (flushed) pending.resolve();
      else waitForDrain(this.socket).then(pending.resolve, (error: unknown) => pending.reject(this.#error ?? error));
    } catch (error) {
      pending.reject(error);
    }
  }

  /**
   * Handshake flights leave at once rather than at the end of the tick:
   * the peer is waiting on them (its RSA work starts when our key arrives),
   * and there is nothing to batch them with.
   */
  #writeHandshake(frames: Uint8Array[]): void {
    if (frames.length === 0) return;
    this.socket.cork();
    for (const frame of frames) this.socket.write(frame);
    this.socket.uncork();
  }

  /** Writes what the writer has sealed; false when the caller should wait for 'drain'. */
  #writeOutput(): boolean {
    this.#corkUntilEndOfTick();
    for (const buffer of this.#writer!.take()) this.socket.write(buffer);
    return this.socket.writableLength < SEND_BUFFER_BYTES;
  }

  /** Everything written in one tick leaves in one writev. */
  #corkUntilEndOfTick(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.socket.cork();
    process.nextTick(this.#endOfTick);
  }

  // ── requests (requests.ts) ─────────────────────────────────────────────

  /**
   * Sends a request on its own lane and resolves with the peer's reply. A
   * failing handler rejects it with ERR_REMOTE (`remoteCode`); a timeout or
   * abort rejects it and cancels it at the peer.
   */
  request(data: Uint8Array | string, options?: RequestOptions): Promise<Buffer> {
    let body: Uint8Array;
    try {
      body = toBytes(data);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#requestLane().request(body, options);
  }

  /** Answers the peer's requests with `handler`'s result; register it before the handshake ends or in the tick the channel is handed over. */
  onRequest(handler: RequestHandler): void {
    this.#requestLane().onRequest(handler);
  }

  #requestLane(): RequestLane {
    this.#requests ??= new RequestLane(this, {
      maxPendingRequests: this.#maxPendingRequests,
      channelError: () => this.#error,
      onRelease: () => this.#refundBudget(),
    });
    return this.#requests;
  }

  // ── receiving ──────────────────────────────────────────────────────────

  /**
   * The next application message: one already queued, or the next to
   * arrive — ahead of any 'message' listener (see SecureChannelEvents).
   * Rejects with ERR_CLOSED after the peer's clean close.
   */
  receive(options: ReceiveOptions = {}): Promise<Buffer> {
    const queued = this.#inbox.shift();
    if (queued) {
      this.#inboxBytes -= queued.length + INBOX_MESSAGE_OVERHEAD;
      this.#refundBudget();
      if (this.#inboxBytes < INBOX_HIGH_WATER && this.socket.isPaused()) this.socket.resume();
      return Promise.resolve(queued);
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#receivingDone) return Promise.reject(new NetcryptError(ErrorCode.CLOSED, 'channel is closed'));
    let waiter!: Waiter;
    const next = new Promise<Buffer>((resolve, reject) => (waiter = { resolve, reject }));
    this.#waiters.push(waiter);
    return withDeadline(next, {
      ...options,
      what: 'receive',
      onCancel: () => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      },
    });
  }

  /** Iterates application messages until the peer's clean close; a failure is thrown. */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      try {
        yield await this.receive();
      } catch (error) {
        if (error instanceof NetcryptError && error.code === ErrorCode.CLOSED && !this.#error) return;
        throw error;
      }
    }
  }

  /**
   * For layers above: takes every message on `lane`. `maxMessageBytes` is
   * that lane's own limit, in place of the channel's (which a peer cannot
   * know): the layer's spec fixes it. A longer message ends the channel
   * with ERR_FRAME_TOO_LARGE while it is still arriving.
   */
  onLane(lane: number, handler: LaneHandler, options: { maxMessageBytes?: number } = {}): void {
    if (lane === APPLICATION_LANE || !Number.isInteger(lane) || lane < 0 || lane >= LANE_COUNT) throw invalidArgument('lane out of range');
    const { maxMessageBytes = this.#maxMessageBytes } = options;
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1) throw invalidArgument('maxMessageBytes must be a positive integer');
    this.#assembler.limitLane(lane, maxMessageBytes);
    this.#laneHandlers.set(lane, handler);
    for (const message of this.#unclaimed[lane]?.splice(0) ?? []) {
      this.#unclaimedBytes -= message.length;
      try {
        if (message.length > this.#assembler.laneLimit(lane)) {
          throw new NetcryptError(ErrorCode.FRAME_TOO_LARGE, `peer's message on lane ${lane} exceeds its limit of ${maxMessageBytes} bytes`);
        }
        handler(message);
      } catch (error) {
        // Same as a message arriving now: a layer that rejects it ends the channel.
        this.destroy(asNetcryptError(error));
        return;
      }
    }
    this.#refundBudget();
  }

  #onData = (chunk: Buffer): void => {
    if (this.#finished) return;
    this.#keepAlive?.heard();
    try {
      this.#chargeBudget(chunk.length);
      this.#decoder.push(chunk);
      for (let frame = this.#nextFrame(); frame && !this.#finished; frame = this.#nextFrame()) this.#onFrame(frame);
      this.#refundBudget();
    } catch (error) {
      this.destroy(asNetcryptError(error));
      return;
    }
    // Announced after the whole chunk, so a record smuggled in behind the CLOSE is ERR_PROTOCOL, not a clean end.
    if (this.#peerCloseUnannounced && !this.#finished) this.#announcePeerClose();
  };

  /** A whole chunk is charged before it is buffered, so the budget is never overrun, even briefly. */
  #chargeBudget(bytes: number): void {
    const budget = this.#setup.inboundBudget;
    if (!budget) return;
    if (!budget.charge(bytes)) throw new NetcryptError(ErrorCode.BUDGET_EXCEEDED, 'the server-wide budget for buffered peer data is spent');
    this.#charged += bytes;
  }

  /** Frames and messages completed meanwhile are no longer held here: their bytes go back. */
  #refundBudget(): void {
    const budget = this.#setup.inboundBudget;
    if (!budget || this.#finished) return;
    // Lane messages kept for a layer that has not attached, and application messages nobody has read yet,
    // are peer data held here too (up to 1 MiB, and 4 MiB plus one message, a channel), as are requests being handled.
    const held = this.#decoder.bufferedBytes + this.#assembler.heldBytes + this.#unclaimedBytes + this.#inboxBytes + (this.#requests?.heldBytes ?? 0);
    if (held >= this.#charged) return;
    budget.refund(this.#charged - held);
    this.#charged = held;
  }

  /** Notes when each lane's message in progress began, and arms the timer for the oldest. */
  #trackUnfinished(lane: number, final: boolean): void {
    if (this.#unfinishedTimeoutMs === undefined) return;
    if (final) this.#unfinishedSince[lane] = undefined;
    else if (this.#unfinishedSince[lane] === undefined) {
      this.#unfinishedSince[lane] = performance.now();
      this.#armUnfinishedTimer();
    }
  }

  #armUnfinishedTimer(): void {
    if (this.#unfinishedTimer || this.#finished) return;
    const started = this.#unfinishedSince.filter((since) => since !== undefined);
    if (started.length === 0) return;
    const due = Math.min(...started) + this.#unfinishedTimeoutMs! - performance.now();
    this.#unfinishedTimer = setTimeout(this.#onUnfinishedTimer, Math.max(0, due));
    this.#unfinishedTimer.unref();
  }

  readonly #onUnfinishedTimer = (): void => {
    this.#unfinishedTimer = undefined;
    const now = performance.now();
    // Paused because our application is not reading: the peer cannot finish, and is not to blame.
    if (this.socket.isPaused()) this.#unfinishedSince.forEach((since, lane) => since !== undefined && (this.#unfinishedSince[lane] = now));
    else if (this.#unfinishedSince.some((since) => since !== undefined && now - since >= this.#unfinishedTimeoutMs!)) {
      this.destroy(new NetcryptError(ErrorCode.TIMEOUT, `the peer left a message unfinished for ${this.#unfinishedTimeoutMs} ms`));
      return;
    }
    this.#armUnfinishedTimer();
  };

  /** A handshake frame as one buffer; a record as the pieces it arrived in, which the opener decrypts without joining. */
  #nextFrame(): Buffer | Buffer[] | undefined {
    return this.#opener ? this.#decoder.nextPieces() : this.#decoder.next();
  }

  #onFrame(frame: Buffer | Buffer[]): void {
    if (!Array.isArray(frame)) return this.#onHandshakeFrame(frame);
    if (this.#receivingDone) throw new NetcryptError(ErrorCode.PROTOCOL, 'record after the peer closed');
    const { type, plaintext: pieces } = this.#opener!.openPieces(frame);
    const plaintext = asBuffers(pieces);
    const record = parseRecordType(type);
    if (record?.kind === 'key-update') return; // the opener has switched keys
    if (record?.kind === 'ping') {
      // Nothing follows this side's CLOSE, not even a PONG; the peer expects none once it has read that CLOSE.
      if (!this.#sendingDone) this.#pingAnswerer.onPing(Buffer.concat(plaintext));
      return;
    }
    if (record?.kind === 'pong') {
      if (!this.#keepAlive) throw unansweredPong();
      return this.#keepAlive.onPong(Buffer.concat(plaintext));
    }
    if (record?.kind === 'alert') throw peerAlertError(decodeAlertRecord(Buffer.concat(plaintext)), true);
    if (record?.kind === 'close') {
      if (plaintext.some((piece) => piece.length > 0)) throw new NetcryptError(ErrorCode.PROTOCOL, 'CLOSE record with content');
      // A clean end must not drop a message cut short: nothing partial passes for complete.
      if (this.#assembler.heldBytes > 0) throw new NetcryptError(ErrorCode.PROTOCOL, 'CLOSE inside an unfinished message');
      return this.#onPeerClose();
    }
    if (record?.kind !== 'fragment' && record?.kind !== 'batch') {
      throw new NetcryptError(ErrorCode.PROTOCOL, `unexpected record type 0x${type.toString(16)}`);
    }
    this.#idle?.touch();
    const messages = this.#assembler.push(record, plaintext);
    if (record.kind === 'fragment') this.#trackUnfinished(record.lane, record.final);
    for (const message of messages) {
      if (this.#finished) return;
      this.#deliver(record.lane, message);
    }
  }

  #deliver(lane: number, message: Buffer): void {
    if (lane !== APPLICATION_LANE) {
      const handler = this.#laneHandlers.get(lane);
      if (handler) return handler(message);
      // The layer that owns the lane may attach a moment later (e.g. receiveFile() called after the offer came in).
      const early = (this.#unclaimed[lane] ??= []);
      this.#unclaimedBytes += message.length;
      if (early.length >= MAX_UNCLAIMED_MESSAGES || this.#unclaimedBytes > MAX_UNCLAIMED_BYTES) {
        throw new NetcryptError(ErrorCode.PROTOCOL, `too many messages on lane ${lane}, which nothing here reads`);
      }
      early.push(message);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) return waiter.resolve(message);
    if (this.listenerCount('message') > 0) {
      try {
        this.emit('message', message);
      } catch (error) {
        // The application's listener failed, not the peer: surface it as Node does for any listener, not as ERR_PROTOCOL.
        queueMicrotask(() => {
          throw error;
        });
      }
      return;
    }
    this.#inbox.push(message);
    this.#inboxBytes += message.length + INBOX_MESSAGE_OVERHEAD;
    if (this.#inboxBytes >= INBOX_HIGH_WATER) this.socket.pause();
  }

  #onHandshakeFrame(frame: Buffer): void {
    const before = this.#handshake.state;
    this.#writeHandshake(this.#handshake.receive(frame));
    if (before === 'await-hello' && this.#handshake.state === 'await-trust') void this.#decideTrust();
    if (this.#handshake.state === 'done') this.#onHandshakeDone();
  }

  async #decideTrust(): Promise<void> {
    const peer = this.#handshake.peer!;
    try {
      await this.#setup.verifyPeer?.(peer);
    } catch (error) {
      this.#handshake.fail();
      this.destroy(error instanceof NetcryptError ? error : new NetcryptError(ErrorCode.PEER_KEY_MISMATCH, String(error), { cause: error }));
      return;
    }
    if (this.#finished) return;
    this.#resolvePeerKnown(peer);
    try {
      this.#writeHandshake(this.#handshake.acceptPeer());
      this.#writeHandshake(this.#handshake.receiveQueued());
    } catch (error) {
      this.destroy(asNetcryptError(error));
    }
  }

  #onHandshakeDone(): void {
    const session = this.#handshake.session!;
    this.#writer = new RecordWriter(session.sealer);
    this.#opener = session.opener;
    this.#decoder.maxFrameBytes = session.suite.maxFrameBytes;
    this.#state = 'open';
    this.#keepAlive?.start();
    this.#idle?.start();
    this.#resolveReady();
  }

  /** A PING or PONG, sealed after whatever was sent before it; never after this side's CLOSE. */
  #sendControl(seal: (writer: RecordWriter) => void): void {
    if (this.#sendingDone) return;
    try {
      this.#flushBatch();
      seal(this.#writer!);
      this.#writeOutput();
    } catch (error) {
      this.destroy(asNetcryptError(error));
    }
  }

  /** idleTimeoutMs ran out: the same authenticated close as close(), under another name. */
  readonly #closeIdle = (): void => {
    this.#closeReason ??= 'idle';
    void this.close();
  };

  // ── closing ────────────────────────────────────────────────────────────

  /**
   * Sends the authenticated close after pending sends, then waits (up to
   * `timeoutMs`, default 5 s) for the peer's before ending TCP; past it the
   * channel is destroyed. Messages already queued here stay readable.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#finished) return;
    if (this.#state === 'handshaking') return this.destroy();
    if (this.#state === 'open') this.#state = 'close-requested';
    this.#closeReason ??= 'local';
    // Pending sends go first, but a peer that stops reading cannot hold close() up forever.
    this.#startCloseTimer(checkTimeout(options.timeoutMs ?? CLOSE_TIMEOUT_MS));
    if (!this.#sendingDone && !this.#error) {
      // Sends accepted while this waits go first too: a CLOSE sealed between a message's records would cut it off.
      for (let tail; tail !== this.#sendTail && !this.#finished; ) {
        tail = this.#sendTail;
        await Promise.race([tail, this.#closed]);
      }
      this.#sendClose();
    }
    await this.#closed;
  }

  /**
   * CLOSE goes out without a TCP FIN: a peer socket that does not allow
   * half-open connections (Node's default) would otherwise end its own
   * side at once, before it has sent what it still owes us. TCP ends once
   * both CLOSE records have crossed.
   */
  #sendClose(): void {
    if (this.#sendingDone) return;
    this.#state = this.#state === 'closing-received' ? 'closing-both' : 'closing-sent';
    this.#stopLivenessTimers();
    this.#flushBatch();
    this.#writer!.sealClose();
    this.#writeOutput();
    if (this.#state === 'closing-both') this.#endTransport();
    this.#startCloseTimer(CLOSE_TIMEOUT_MS);
  }

  /** Ends the channel after `ms` unless it finishes first; the first deadline set stands. */
  #startCloseTimer(ms: number): void {
    if (this.#closeTimer || this.#finished) return;
    this.#closeTimer = setTimeout(() => this.destroy(), ms);
    this.#closeTimer.unref();
  }

  /**
   * The peer will send nothing more. This side may still send — an echo
   * server finishing its replies — and closes when the application calls
   * close(), or by itself after HALF_CLOSED_LINGER_MS so a peer cannot keep
   * a half-closed channel open forever.
   */
  #onPeerClose(): void {
    this.#state = this.#state === 'closing-sent' ? 'closing-both' : 'closing-received';
    this.#closeReason ??= 'peer';
    this.#stopLivenessTimers();
    this.#peerCloseUnannounced = true;
  }

  #announcePeerClose(): void {
    this.#peerCloseUnannounced = false;
    this.emit('end');
    if (this.#waiters.length > 0) {
      const closed = new NetcryptError(ErrorCode.CLOSED, 'channel is closed');
      for (const waiter of this.#waiters.splice(0)) waiter.reject(closed);
    }
    if (this.#state === 'closing-both') this.#endTransport();
    else {
      this.#lingerTimer = setTimeout(() => void this.close(), HALF_CLOSED_LINGER_MS);
      this.#lingerTimer.unref();
    }
  }

  /**
   * Both CLOSE records have crossed. The channel is done once this side's
   * end has left (everything written before it with it), without waiting
   * for the peer's: a transport that carries no end of stream (a serial
   * line, a multiplexed stream) or closes as a whole (a WebSocket) must not
   * hold a clean close open until the close timer.
   */
  #endTransport(): void {
    this.transport.end(() => this.#finish());
  }

  /** Once a CLOSE has crossed either way, the close's own deadlines bound the channel's life instead. */
  #stopLivenessTimers(): void {
    this.#keepAlive?.stop();
    this.#idle?.stop();
  }

  #onEnd = (): void => {
    // A FIN is a clean end only after the peer's authenticated CLOSE.
    if (this.#receivingDone) this.#finish();
    else this.destroy(lostConnection());
  };

  #onSocketError = (error: Error): void => {
    this.destroy(this.#state === 'closing-both' ? undefined : lostConnection(error));
  };

  #onSocketClose = (): void => {
    if (this.#receivingDone) this.#finish();
    else this.destroy(lostConnection());
  };

  /** Ends the channel at once. With an error, every pending and later call rejects with it. */
  destroy(error?: NetcryptError): void {
    if (this.#finished) return;
    if (error && !this.#error) this.#error = error;
    if (!error || !this.#sendAlert(error)) this.socket.destroy();
    this.#finish();
  }

  /**
   * Tells the peer why this side gives up, best effort and bounded: the
   * alert leaves with a FIN, whatever the peer still sends is read and
   * dropped (so the kernel does not answer it with a reset that could
   * discard the alert), and the socket goes once the peer has closed or
   * after ALERT_LINGER_MS. Never for what the peer reported itself, nor for
   * a connection that is already gone. Returns false if nothing was sent.
   */
  #sendAlert(error: NetcryptError): boolean {
    const socket = this.socket;
    if (error.origin === 'peer' || error.code === ErrorCode.TRUNCATED || socket.destroyed || !socket.writable) return false;
    // Before our hello the peer has not heard from us at all (an aborted signal, say): just go.
    if (this.#handshake.state === 'start') return false;
    // Nothing may follow this side's CLOSE (docs/PROTOCOL.md §3): the peer would take an alert for ERR_PROTOCOL.
    if (this.#sendingDone) return false;
    let frames: Uint8Array[];
    try {
      frames = this.#handshake.alert(error.code);
    } catch {
      return false;
    }
    this.#lingering = true;
    if (this.#corked) {
      this.#corked = false;
      socket.uncork();
    }
    for (const frame of frames) socket.write(frame);
    socket.end();
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), ALERT_LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    return true;
  }

  #finish(): void {
    if (this.#finished) return;
    const handshaking = this.#state === 'handshaking';
    const bothClosed = this.#state === 'closing-both';
    this.#state = 'closed';
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#lingerTimer);
    clearTimeout(this.#unfinishedTimer);
    this.#stopLivenessTimers();
    if (this.#charged > 0) this.#setup.inboundBudget?.refund(this.#charged);
    this.#charged = 0;
    const error = this.#error;
    if (handshaking) this.#rejectHandshake(error ?? new NetcryptError(ErrorCode.CLOSED, 'closed during the handshake'));
    if (this.#waiters.length > 0 || this.#batch) {
      const pending = error ?? new NetcryptError(ErrorCode.CLOSED, 'channel is closed');
      for (const waiter of this.#waiters.splice(0)) waiter.reject(pending);
      this.#batch?.reject(pending);
      this.#batch = undefined;
      this.#writer?.discardBatch();
    }
    if (!this.#lingering) this.socket.destroy();
    this.#closedCleanly = !error && bothClosed;
    this.#resolveClosed();
    this.emit('close', this.#closedCleanly ? undefined : (error ?? new NetcryptError(ErrorCode.CLOSED, 'channel ended before both authenticated closes had crossed')));
  }

  // ── stream view ────────────────────────────────────────────────────────

  /** A byte-stream view: writes become messages, reads yield message bytes in order, end() closes. */
  stream(): Duplex {
    const iterator = this[Symbol.asyncIterator]();
    return new Duplex({
      write: (chunk: Buffer, _encoding, callback) => {
        this.send(chunk).then(() => callback(), callback);
      },
      final: (callback) => {
        this.close().then(() => callback(), callback);
      },
      read() {
        iterator.next().then(
          (result) => this.push(result.done ? null : result.value),
          (error: unknown) => this.destroy(error as Error),
        );
      },
    });
  }

  /** Closes when used with `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
