/** Request/response on lane 3 over real loopback channels: storms, failures, cancellation, bounds, hostile peers. */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { loadBackend } from '../src/backend/index.ts';
import { duplexPair } from '../src/channel/duplex-pair.ts';
import { SecureChannel } from '../src/channel/secure-channel.ts';
import { ErrorCode, NetcryptError, isNetcryptError } from '../src/errors.ts';
import type { Channel } from '../src/protocol/channel.ts';
import type { ServerOptions } from '../src/protocol/server.ts';
import {
  MAX_OUTSTANDING_REQUESTS,
  MAX_REQUEST_BODY_BYTES,
  MAX_REQUEST_MESSAGE_BYTES,
  REQUEST_LANE,
  encodeCancel,
  encodeError,
  encodeReply,
  encodeRequest,
} from '../src/wire/request-messages.ts';
import { testIdentities } from './helpers/identities.ts';
import { type LoopbackPairOptions, loopbackPair } from './helpers/loopback-pair.ts';

const [serverId, clientId] = await testIdentities();

const hasCode = (code: string, remoteCode?: string) => (error: unknown) =>
  isNetcryptError(error) && error.code === code && (remoteCode === undefined || error.remoteCode === remoteCode);

/** A small deterministic PRNG (mulberry32), so a failing storm can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once the peer's channel has ended, with the error it ended with. */
function closeReason(channel: SecureChannel): Promise<NetcryptError | undefined> {
  return once(channel, 'close').then(([error]) => error as NetcryptError | undefined);
}

describe('requests: answers', () => {
  it('resolves with the reply, in both directions, strings and bytes alike', async () => {
    const { client, server } = await loopbackPair({ onServer: (channel) => channel.onRequest((data) => `server got ${data}`) });
    client.onRequest((data) => Buffer.concat([Buffer.from('client got '), data]));
    assert.equal((await client.request('ping')).toString(), 'server got ping');
    assert.equal((await server.request(Buffer.from([1, 2, 3]))).toString('hex'), '636c69656e7420676f7420010203');
    assert.equal((await client.request(new Uint8Array(0))).toString(), 'server got ');
  });

  it('carries bodies up to the limit, fragmented, and refuses a larger one before sending anything', async () => {
    const { client } = await loopbackPair({ onServer: (channel) => channel.onRequest((data) => data.subarray(0, 7)) });
    const big = Buffer.alloc(MAX_REQUEST_BODY_BYTES, 0xab);
    assert.deepEqual(await client.request(big), big.subarray(0, 7));
    await assert.rejects(client.request(Buffer.alloc(MAX_REQUEST_BODY_BYTES + 1)), hasCode(ErrorCode.INVALID_ARGUMENT));
    // The refused one took no id: the next request is still in sequence for the peer.
    assert.equal((await client.request('after')).toString(), 'after');
  });

  it('bad arguments reject (never throw) with ERR_INVALID_ARGUMENT, and take no id', async () => {
    const { client, server } = await loopbackPair({ onServer: (channel) => channel.onRequest((data) => data) });
    const calls = [
      () => client.request(42 as never),
      () => client.request('x', { timeoutMs: 0 }),
      () => client.request('x', { timeoutMs: 1.5 }),
      () => client.request('x', { timeoutMs: 2 ** 31 }),
    ];
    for (const call of calls) await assert.rejects(call(), hasCode(ErrorCode.INVALID_ARGUMENT));
    assert.throws(() => server.onRequest('not a function' as never), hasCode(ErrorCode.INVALID_ARGUMENT));
    assert.equal((await client.request('in sequence')).toString(), 'in sequence');
  });

  it('a reply above the limit reaches the caller as ERR_REMOTE, not as a stuck request', async () => {
    const { client } = await loopbackPair({ onServer: (channel) => channel.onRequest(() => Buffer.alloc(MAX_REQUEST_BODY_BYTES + 1)) });
    await assert.rejects(client.request('x'), hasCode(ErrorCode.REMOTE, ErrorCode.INVALID_ARGUMENT));
  });

  it('a handler that returns neither bytes nor a string is reported as ERR_REMOTE', async () => {
    const { client } = await loopbackPair({ onServer: (channel) => channel.onRequest((() => 42) as never) });
    await assert.rejects(client.request('x'), hasCode(ErrorCode.REMOTE, ErrorCode.INVALID_ARGUMENT));
  });
});

describe('requests: handler failures', () => {
  const thrown = new Map<string, () => unknown>([
    ['netcrypt', () => new NetcryptError(ErrorCode.FILE_EXISTS, 'already there')],
    ['errno', () => Object.assign(new Error('no such file'), { code: 'ENOENT' })],
    ['app', () => Object.assign(new Error('nope'), { code: 'not-found.v2' })],
    ['unsafe-code', () => Object.assign(new Error('spaces'), { code: 'has spaces' })],
    ['long-code', () => Object.assign(new Error('long'), { code: 'E'.repeat(65) })],
    ['number-code', () => Object.assign(new Error('numeric'), { code: 42 })],
    ['string', () => 'a plain string'],
    ['null', () => null],
    ['control', () => new Error('line\nbreak \u202Eevil\u0007')],
    ['long-message', () => new Error('é'.repeat(1000))],
  ]);

  it('reach the caller as ERR_REMOTE with the handler code and message, never the stack', async () => {
    const { client } = await loopbackPair({
      onServer: (channel) =>
        channel.onRequest(async (data) => {
          const kind = data.toString();
          if (kind === 'sync') throw new Error('thrown synchronously');
          await delay(1);
          throw thrown.get(kind)!();
        }),
    });
    const outcome = async (kind: string) => {
      const error = await client.request(kind).then(
        () => assert.fail('resolved'),
        (e: unknown) => e as NetcryptError,
      );
      assert.equal(error.code, ErrorCode.REMOTE);
      assert.equal(error.origin, 'peer');
      assert.ok(!error.message.includes('    at '), 'no stack frames');
      return [error.remoteCode, error.message];
    };
    assert.deepEqual(await outcome('netcrypt'), ['ERR_FILE_EXISTS', 'already there']);
    assert.deepEqual(await outcome('errno'), ['ENOENT', 'no such file']);
    assert.deepEqual(await outcome('app'), ['not-found.v2', 'nope']);
    assert.deepEqual(await outcome('unsafe-code'), ['ERR_HANDLER_FAILED', 'spaces']);
    assert.deepEqual(await outcome('long-code'), ['ERR_HANDLER_FAILED', 'long']);
    assert.deepEqual(await outcome('number-code'), ['ERR_HANDLER_FAILED', 'numeric']);
    assert.deepEqual(await outcome('string'), ['ERR_HANDLER_FAILED', 'a plain string']);
    assert.deepEqual(await outcome('null'), ['ERR_HANDLER_FAILED', 'the request handler failed']);
    assert.deepEqual(await outcome('sync'), ['ERR_HANDLER_FAILED', 'thrown synchronously']);
    assert.deepEqual(await outcome('control'), ['ERR_HANDLER_FAILED', 'line?break ?evil?']);
    const [, long] = await outcome('long-message');
    assert.equal(long, 'é'.repeat(512), 'cut at 1024 bytes, on a character boundary');
  });

  it('no handler: the caller gets ERR_REMOTE with remoteCode ERR_NO_HANDLER, and the channel goes on', async () => {
    const { client, server } = await loopbackPair();
    await assert.rejects(client.request('anyone?'), hasCode(ErrorCode.REMOTE, 'ERR_NO_HANDLER'));
    await assert.rejects(server.request('anyone?'), hasCode(ErrorCode.REMOTE, 'ERR_NO_HANDLER'));
    server.onRequest(() => 'now');
    assert.equal((await client.request('anyone?')).toString(), 'now');
    await client.send('still a channel');
    assert.equal((await server.receive()).toString(), 'still a channel');
  });

  it('requests that arrive before the first handler wait for it until the end of that turn of the event loop', async () => {
    const { client, server } = await loopbackPair();
    // A 'data' listener added after the channel's runs right after the channel has read the chunk: same turn, no handler yet.
    server.socket.once('data', () => queueMicrotask(() => server.onRequest((data) => data)));
    const replies = await Promise.all(['a', 'b', 'c'].map((m) => client.request(m)));
    assert.deepEqual(replies.map(String), ['a', 'b', 'c']);
  });
});

describe('requests: storms', () => {
  it('many in flight both ways, random delays, failures, timeouts and aborts: every caller gets exactly its own outcome', async () => {
    const random = prng(0x5eed);
    interface Plan {
      token: string;
      /** How long the handler works (ms). */
      wait: number;
      /** 0: answers; 1: throws an Error with a code; 2: throws a NetcryptError. */
      fail: number;
      /** 0: the caller waits; 1: it aborts after `after` ms; 2: its timeoutMs is `after`. */
      cancel: number;
      after: number;
      /** The handler runs until its caller cancels (the test's own cancel in flight). */
      hold?: boolean;
    }
    /** Tokens whose handler saw its signal abort, per answering side. */
    const aborted = new Set<string>();
    /** Started handlers of held requests, by token. */
    const holding = new Map<string, () => void>();
    const handler = (side: string) => async (data: Buffer, { signal }: { signal: AbortSignal }) => {
      const { token, wait, fail, hold } = JSON.parse(data.toString()) as Plan;
      signal.addEventListener('abort', () => aborted.add(token), { once: true });
      if (hold) {
        holding.get(token)!();
        await once(signal, 'abort');
      }
      if (wait > 0) await delay(wait);
      if (fail === 1) throw Object.assign(new Error(`failed ${token}`), { code: `E_${side}` });
      if (fail === 2) throw new NetcryptError(ErrorCode.FILE_IO, `io ${token}`);
      return `${side} answers ${token}`;
    };
    const { client, server } = await loopbackPair({ onServer: (channel) => channel.onRequest(handler('server')) });
    client.onRequest(handler('client'));
    /** Tokens whose caller gave up (its ERR_ABORTED or ERR_TIMEOUT). */
    const gaveUp = new Set<string>();
    const storm = (from: SecureChannel, peer: string, count: number) =>
      Array.from({ length: count }, async (_, i) => {
        const token = `${peer}-${i}-${random().toString(36).slice(2)}`;
        const plan: Plan = { token, wait: Math.floor(random() * 8), fail: Math.floor(random() * 3), cancel: Math.floor(random() * 3), after: 1 + Math.floor(random() * 8) };
        const controller = new AbortController();
        if (plan.cancel === 1) setTimeout(() => controller.abort(), plan.after);
        const options = plan.cancel === 1 ? { signal: controller.signal } : plan.cancel === 2 ? { timeoutMs: plan.after } : {};
        try {
          const reply = (await from.request(JSON.stringify(plan), options)).toString();
          return plan.fail === 0 && reply === `${peer} answers ${token}`;
        } catch (error) {
          if (plan.cancel === 1 && hasCode(ErrorCode.ABORTED)(error)) return gaveUp.add(token) && true;
          if (plan.cancel === 2 && hasCode(ErrorCode.TIMEOUT)(error)) return gaveUp.add(token) && true;
          if (plan.fail === 1) return hasCode(ErrorCode.REMOTE, `E_${peer}`)(error) && (error as Error).message === `failed ${token}`;
          if (plan.fail === 2) return hasCode(ErrorCode.REMOTE, ErrorCode.FILE_IO)(error) && (error as Error).message === `io ${token}`;
          return false;
        }
      });
    // Each side keeps to its 128 in flight: 120 at a time, several waves.
    for (let wave = 0; wave < 5; wave++) {
      const outcomes = await Promise.all([...storm(client, 'server', 120), ...storm(server, 'client', 120)]);
      assert.equal(outcomes.filter((ok) => !ok).length, 0, `wave ${wave}: every caller got its own outcome`);
    }
    // The random timings above may or may not cross a running handler (the machine's load decides): one held request
    // each way is certainly cancelled in flight.
    const held = async (from: SecureChannel, peer: string) => {
      const token = `held-${peer}`;
      const started = new Promise<void>((resolve) => holding.set(token, resolve));
      const controller = new AbortController();
      const request = from.request(JSON.stringify({ token, wait: 0, fail: 0, cancel: 1, after: 0, hold: true }), { signal: controller.signal });
      await started;
      controller.abort();
      await assert.rejects(request, hasCode(ErrorCode.ABORTED));
      gaveUp.add(token);
    };
    await Promise.all([held(client, 'server'), held(server, 'client')]);
    // One more request each way: it travels behind every CANCEL, so each has been read when it is answered.
    const last = (peer: string): Plan => ({ token: `last-${peer}`, wait: 0, fail: 0, cancel: 0, after: 0 });
    assert.equal((await client.request(JSON.stringify(last('server')))).toString(), 'server answers last-server');
    assert.equal((await server.request(JSON.stringify(last('client')))).toString(), 'client answers last-client');
    assert.ok(aborted.has('held-server') && aborted.has('held-client'), 'the held requests were cancelled in flight');
    // A handler was told to stop only for a request whose caller gave up (a CANCEL may also cross an answer).
    for (const token of aborted) assert.ok(gaveUp.has(token), `${token} aborted at the handler, answered at the caller`);
  });

  it('requests, messages and a file transfer interleave on one channel', async () => {
    const { mkdtemp, rm, writeFile, readFile } = await import('node:fs/promises');
    const { randomBytes } = await import('node:crypto');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'netcrypt-requests-'));
    after(() => rm(dir, { recursive: true, force: true }));
    const content = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(join(dir, 'payload.bin'), content);
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'in')));

    const { client, server } = await loopbackPair({ onServer: (channel) => channel.onRequest((data) => Buffer.concat([data, data])) });
    const receiving = server.receiveFile({ dir: join(dir, 'in') });
    const sending = client.sendFile(join(dir, 'payload.bin'));
    const requests = Array.from({ length: 100 }, (_, i) => client.request(`r${i}`).then(String));
    const messages = (async () => {
      for (let i = 0; i < 200; i++) await client.send(`m${i}`);
    })();
    const received: string[] = [];
    for (let i = 0; i < 200; i++) received.push((await server.receive()).toString());
    const [replies] = await Promise.all([Promise.all(requests), messages, sending, receiving]);
    assert.deepEqual(replies, Array.from({ length: 100 }, (_, i) => `r${i}r${i}`));
    assert.deepEqual(received, Array.from({ length: 200 }, (_, i) => `m${i}`));
    assert.ok((await readFile(join(dir, 'in', 'payload.bin'))).equals(content));
  });
});

/** One parked request: the handler waits for `release`; `started` and `aborted` tell the test what happened to it. */
class Slot {
  readonly released: Promise<string>;
  readonly started: Promise<void>;
  readonly aborted: Promise<unknown>;
  release!: (reply: string) => void;
  onStart!: () => void;
  onAbort!: (reason: unknown) => void;

  constructor() {
    this.released = new Promise((resolve) => (this.release = resolve));
    this.started = new Promise((resolve) => (this.onStart = resolve));
    this.aborted = new Promise((resolve) => (this.onAbort = resolve));
  }
}

describe('requests: cancellation', () => {
  /** A server whose handler parks each request until the test releases it, and tells when its signal aborts. */
  async function parkingPair(options: LoopbackPairOptions = {}) {
    const seen: string[] = [];
    const parked = new Map<string, Slot>();
    /** The slot of the request whose body is `key`, made on first mention by the test or the handler. */
    const slot = (key: string): Slot => {
      let entry = parked.get(key);
      if (!entry) parked.set(key, (entry = new Slot()));
      return entry;
    };
    const channels = await loopbackPair({
      ...options,
      onServer: (channel) =>
        channel.onRequest((data, { signal }) => {
          seen.push(data.toString());
          const entry = slot(data.toString());
          signal.addEventListener('abort', () => entry.onAbort(signal.reason), { once: true });
          entry.onStart();
          return entry.released;
        }),
    });
    return { ...channels, slot, seen };
  }

  it("a timeout rejects with ERR_TIMEOUT and aborts the handler's signal; its late answer is dropped", async () => {
    const { client, slot } = await parkingPair();
    await assert.rejects(client.request('slow', { timeoutMs: 50 }), hasCode(ErrorCode.TIMEOUT));
    const reason = await slot('slow').aborted;
    assert.ok(hasCode(ErrorCode.ABORTED)(reason));
    slot('slow').release('too late');
    // The channel goes on, and the late answer went to nobody.
    const next = client.request('next');
    await slot('next').started;
    slot('next').release('on time');
    assert.equal((await next).toString(), 'on time');
  });

  it("an abort rejects with ERR_ABORTED and aborts the handler's signal", async () => {
    const { client, slot } = await parkingPair();
    const controller = new AbortController();
    const call = client.request('abort me', { signal: controller.signal });
    await slot('abort me').started;
    controller.abort();
    await assert.rejects(call, hasCode(ErrorCode.ABORTED));
    await slot('abort me').aborted;
  });

  it('one signal shared by many requests: one abort cancels them all, without a listener per request', async () => {
    const { client, slot } = await parkingPair();
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    after(() => process.off('warning', onWarning));
    const controller = new AbortController();
    const keys = Array.from({ length: 50 }, (_, i) => `shared ${i}`);
    const calls = keys.map((key) => client.request(key, { signal: controller.signal }));
    await Promise.all(keys.map((key) => slot(key).started));
    controller.abort();
    for (const call of calls) await assert.rejects(call, hasCode(ErrorCode.ABORTED));
    await Promise.all(keys.map((key) => slot(key).aborted));
    // A warning is emitted on a later tick: one round trip gives it time to appear.
    const next = client.request('after');
    await slot('after').started;
    slot('after').release('ok');
    await next;
    assert.deepEqual(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning'), []);
  });

  it('an already aborted signal rejects at once and sends nothing', async () => {
    const { client, slot, seen } = await parkingPair();
    await assert.rejects(client.request('never', { signal: AbortSignal.abort() }), hasCode(ErrorCode.ABORTED));
    const next = client.request('second');
    await slot('second').started;
    slot('second').release('ok');
    assert.equal((await next).toString(), 'ok');
    assert.deepEqual(seen, ['second']);
  });

  it('maxPendingRequests: one more rejects at once with ERR_TOO_MANY_REQUESTS; room frees as answers come', async () => {
    const { client, slot } = await parkingPair({ client: { maxPendingRequests: 2 } });
    const first = client.request('1');
    const second = client.request('2');
    await assert.rejects(client.request('3'), hasCode(ErrorCode.TOO_MANY_REQUESTS));
    await slot('1').started;
    slot('1').release('one');
    assert.equal((await first).toString(), 'one');
    const fourth = client.request('4');
    await slot('4').started;
    slot('2').release('two');
    slot('4').release('four');
    assert.deepEqual((await Promise.all([second, fourth])).map(String), ['two', 'four']);
  });

  it('maxPendingRequests is checked: 1 to 128', async () => {
    for (const maxPendingRequests of [0, 129, 1.5]) {
      await assert.rejects(loopbackPair({ client: { maxPendingRequests } }), hasCode(ErrorCode.INVALID_ARGUMENT));
    }
  });
});

describe('requests: a full send queue', () => {
  const MiB = 1024 * 1024;

  it("under sendQueuePolicy 'fail' a request is refused at once with ERR_SEND_QUEUE_FULL; later ones go on", async () => {
    const { client, server } = await loopbackPair({ client: { sendQueuePolicy: 'fail', sendQueueLimitBytes: 64 * 1024 }, onServer: (channel) => channel.onRequest((data) => String(data.length)) });
    server.socket.pause(); // the server stops reading: the client's queue fills
    const calls = Array.from({ length: 40 }, () => client.request(Buffer.alloc(MiB)).then(String, (error: unknown) => error));
    server.socket.resume();
    const outcomes = await Promise.all(calls);
    const refused = outcomes.filter((outcome) => hasCode(ErrorCode.SEND_QUEUE_FULL)(outcome));
    assert.ok(refused.length > 0, 'some requests were refused');
    assert.equal(refused.length + outcomes.filter((outcome) => outcome === String(MiB)).length, 40, String(outcomes.find((o) => typeof o !== 'string' && !refused.includes(o))));
    // The refused ones left gaps in the ids; the peer takes the next one as it comes.
    assert.equal((await client.request('after')).toString(), '5');
  });

  it('answers are owed: the limit refuses the application\'s sends, never an answer the peer waits for', async () => {
    let handled = 0;
    let allHandled!: () => void;
    const everyOne = new Promise<void>((resolve) => (allHandled = resolve));
    const { client, server } = await loopbackPair({
      server: { sendQueuePolicy: 'fail', sendQueueLimitBytes: 64 * 1024 },
      onServer: (channel) =>
        channel.onRequest(() => {
          if (++handled === 24) allHandled();
          return Buffer.alloc(MiB, handled);
        }),
    });
    client.socket.pause(); // the client stops reading: the server's answers pile up
    const calls = Array.from({ length: 24 }, () => client.request('big one'));
    await everyOne;
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(server.send(Buffer.alloc(1024)), hasCode(ErrorCode.SEND_QUEUE_FULL));
    client.socket.resume();
    const replies = await Promise.all(calls);
    assert.deepEqual(replies.map((reply) => [reply.length, reply[0]]), Array.from({ length: 24 }, (_, i) => [MiB, i + 1]));
  });
});

describe('requests: the channel ends', () => {
  it("the peer's clean close rejects what waits with ERR_CLOSED; the handlers' signals abort when the channel ends", async () => {
    let handlerAborted!: Promise<unknown>;
    const { client, server } = await loopbackPair({
      onServer: (channel) =>
        channel.onRequest(() => new Promise<string>(() => {})),
    });
    client.onRequest((_data, { signal }) => {
      handlerAborted = once(signal, 'abort');
      return new Promise<string>(() => {});
    });
    const waiting = client.request('forever');
    const theirs = server.request('forever too');
    theirs.catch(() => {}); // asserted below, after both closes
    await new Promise((resolve) => setImmediate(resolve));
    while (!handlerAborted) await new Promise((resolve) => setImmediate(resolve));
    const closing = server.close();
    await assert.rejects(waiting, hasCode(ErrorCode.CLOSED));
    await client.close();
    await closing;
    await assert.rejects(theirs, hasCode(ErrorCode.CLOSED));
    await handlerAborted;
    await assert.rejects(client.request('after'), hasCode(ErrorCode.CLOSED));
  });

  it('a request that arrives after this side sent its CLOSE runs no handler', async () => {
    const { client, server } = await loopbackPair();
    let calls = 0;
    client.onRequest(() => `${++calls}`);
    const peerSawClose = once(server, 'end');
    const closing = client.close();
    await peerSawClose;
    // The server's own request() refuses now; a request sent raw behind the client's CLOSE reaches it.
    await assert.rejects(server.request('late'), hasCode(ErrorCode.CLOSED));
    await server.sendOnLane(REQUEST_LANE, encodeRequest(1, Buffer.from('late')));
    await server.close();
    await closing;
    assert.equal(client.closedCleanly, true);
    assert.equal(calls, 0);
  });

  it("a failure rejects what waits with the channel's error", async () => {
    const { client } = await loopbackPair({ onServer: (channel) => channel.onRequest(() => new Promise<string>(() => {})) });
    const waiting = client.request('forever');
    const failure = new NetcryptError(ErrorCode.TIMEOUT, 'gave up');
    client.destroy(failure);
    await assert.rejects(waiting, (error) => error === failure);
    await assert.rejects(client.request('after'), (error) => error === failure);
  });

  it('a peer that vanishes rejects what waits with ERR_TRUNCATED', async () => {
    const { client, server } = await loopbackPair({ onServer: (channel) => channel.onRequest(() => new Promise<string>(() => {})) });
    const waiting = client.request('forever');
    await new Promise((resolve) => setImmediate(resolve));
    server.socket.destroy();
    await assert.rejects(waiting, hasCode(ErrorCode.TRUNCATED));
  });
});

describe('requests: hostile peers', () => {
  /** The server end receives what the client sends raw on lane 3, and must end with `code`. */
  async function refuses(raw: (client: SecureChannel) => Promise<void> | void, code: string, setup?: (server: Channel) => void) {
    const { client, server } = await loopbackPair({ onServer: setup ?? ((channel) => channel.onRequest(() => new Promise<string>(() => {}))) });
    const [reason, clientReason] = [closeReason(server), closeReason(client)];
    await raw(client);
    const error = await reason;
    assert.ok(hasCode(code)(error), `server ended with ${error?.code}: ${error?.message}`);
    const told = await clientReason;
    assert.ok(isNetcryptError(told, ErrorCode.PEER_ALERT) && told.peerCode === code, `client was told ${told?.code}`);
  }
  const raw = (bytes: Buffer) => (client: SecureChannel) => void client.sendOnLane(REQUEST_LANE, bytes).catch(() => {});

  it('malformed messages are ERR_PROTOCOL', async () => {
    for (const bytes of [
      Buffer.alloc(0),
      Buffer.from('0100000000', 'hex'),
      Buffer.from('050000000000000001', 'hex'), // unknown kind
      Buffer.from('010000000000000000', 'hex'), // id 0
      Buffer.from('01ffe0000000000001', 'hex'), // id above 2^53 - 1
      Buffer.concat([encodeCancel(1), Buffer.from([0])]),
      Buffer.concat([encodeError(1, 'E', 'x'), Buffer.from([0])]),
    ]) {
      await refuses(raw(bytes), ErrorCode.PROTOCOL);
    }
  });

  it('request ids that repeat or go down are ERR_PROTOCOL; a gap is not', async () => {
    await refuses((client) => {
      raw(encodeRequest(1, Buffer.from('x')))(client);
      raw(encodeRequest(1, Buffer.from('again')))(client);
    }, ErrorCode.PROTOCOL);
    await refuses((client) => {
      raw(encodeRequest(5, Buffer.from('x')))(client);
      raw(encodeRequest(4, Buffer.from('down')))(client);
    }, ErrorCode.PROTOCOL);
    const { client } = await loopbackPair({ onServer: (channel) => channel.onRequest((data) => data) });
    const answers = new Promise<Buffer[]>((resolve) => {
      const got: Buffer[] = [];
      client.onLane(REQUEST_LANE, (message) => got.push(message) === 2 && resolve(got));
    });
    raw(encodeRequest(3, Buffer.from('from 3')))(client);
    raw(encodeRequest(10, Buffer.from('to 10')))(client);
    assert.deepEqual(await answers, [encodeReply(3, Buffer.from('from 3')), encodeReply(10, Buffer.from('to 10'))]);
  });

  it('answers to requests never sent, and cancels of requests never sent, are ERR_PROTOCOL', async () => {
    await refuses(raw(encodeReply(1, Buffer.from('unasked'))), ErrorCode.PROTOCOL);
    await refuses(raw(encodeError(7, 'E', 'unasked')), ErrorCode.PROTOCOL);
    await refuses(raw(encodeCancel(1)), ErrorCode.PROTOCOL);
  });

  it(`more than ${MAX_OUTSTANDING_REQUESTS} outstanding requests are ERR_PROTOCOL; cancelled ones do not count`, async () => {
    // Cancelled requests leave the count even while their handler still runs: 200 sent and cancelled, then 128 more, are fine.
    const { client, server } = await loopbackPair({ onServer: (channel) => channel.onRequest(() => new Promise<string>(() => {})) });
    let id = 0;
    for (let i = 0; i < 200; i++) {
      id++;
      raw(encodeRequest(id, Buffer.from('x')))(client);
      raw(encodeCancel(id))(client);
    }
    for (let i = 0; i < MAX_OUTSTANDING_REQUESTS; i++) raw(encodeRequest(++id, Buffer.from('x')))(client);
    // A round trip on lane 0 shows the server read them all and is still open.
    server.on('message', (m) => void server.send(m));
    await client.send('still there?');
    assert.equal((await client.receive()).toString(), 'still there?');
    const reason = closeReason(server);
    raw(encodeRequest(++id, Buffer.from('one too many')))(client);
    assert.ok(hasCode(ErrorCode.PROTOCOL)(await reason));
  });

  it("requests being handled count against a server's inbound budget until they are answered", async () => {
    const MiB = 1024 * 1024;
    const server: Partial<ServerOptions> = { maxMessageBytes: 2 * MiB, inboundBudgetBytes: 4 * MiB };
    // Answered at once, 1 MiB requests pass one after another, far beyond the budget in total.
    const quick = await loopbackPair({ server, onServer: (channel) => channel.onRequest((data) => String(data.length)) });
    for (let i = 0; i < 12; i++) assert.equal((await quick.client.request(Buffer.alloc(MiB))).toString(), String(MiB));
    // Held by a handler that never answers, the fifth one does not fit.
    const parked = await loopbackPair({ server, onServer: (channel) => channel.onRequest(() => new Promise<string>(() => {})) });
    const reason = closeReason(parked.server);
    parked.server.on('message', (m) => void parked.server.send(m).catch(() => {}));
    const calls = Array.from({ length: 6 }, () => parked.client.request(Buffer.alloc(MiB)).catch((error: unknown) => error));
    // A message sent behind the requests comes back only if the server read them all and kept going.
    const echo = parked.client.send('behind them').then(() => parked.client.receive()).then(() => 'echoed', () => 'refused');
    assert.equal(await echo, 'refused');
    assert.ok(hasCode(ErrorCode.BUDGET_EXCEEDED)(await reason));
    for (const outcome of await Promise.all(calls)) assert.ok(isNetcryptError(outcome, ErrorCode.PEER_ALERT) || isNetcryptError(outcome, ErrorCode.TRUNCATED), String(outcome));
  });

  it('a lane-3 message above its cap is ERR_FRAME_TOO_LARGE while it is still arriving', async () => {
    await refuses(raw(Buffer.alloc(MAX_REQUEST_MESSAGE_BYTES + 1)), ErrorCode.FRAME_TOO_LARGE);
  });

  it('answers to cancelled requests, duplicate answers and cancels that cross answers are dropped', async () => {
    const { client, server } = await loopbackPair({ onServer: (channel) => channel.onRequest((data) => data) });
    // The server asks; the client answers by hand, late and twice.
    const controller = new AbortController();
    const asked = server.request('first', { signal: controller.signal });
    controller.abort();
    await assert.rejects(asked, hasCode(ErrorCode.ABORTED));
    raw(encodeReply(1, Buffer.from('late')))(client);
    raw(encodeError(1, 'E', 'late again'))(client);
    // The client asks and cancels after the answer came: the server has nothing to cancel.
    assert.equal((await client.request('echo')).toString(), 'echo');
    raw(encodeCancel(1))(client);
    raw(encodeCancel(1))(client);
    assert.equal((await client.request('still')).toString(), 'still');
    assert.equal(server.closed, false);
  });

  it('any sequence of lane-3 messages: the responder fails with ERR_PROTOCOL exactly where §3.1 says, and otherwise goes on', async () => {
    const backend = await loadBackend('native');
    type Op =
      | { t: 'request'; step: number }
      | { t: 'burst'; count: number }
      | { t: 'cancel'; back: number }
      | { t: 'answer'; id: number }
      | { t: 'short'; bytes: Uint8Array };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 12, arbitrary: fc.record({ t: fc.constant('request' as const), step: fc.integer({ min: -1, max: 3 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('burst' as const), count: fc.integer({ min: 60, max: 130 }) }) },
      { weight: 6, arbitrary: fc.record({ t: fc.constant('cancel' as const), back: fc.integer({ min: -1, max: 6 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('answer' as const), id: fc.integer({ min: 1, max: 9 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('short' as const), bytes: fc.uint8Array({ maxLength: 8 }) }) },
    );
    const outcomes = { refused: 0, accepted: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 24 }), async (ops) => {
        const [a, b] = duplexPair();
        const attacker = new SecureChannel(a, { role: 'client', identity: clientId!, backend });
        const victim = new SecureChannel(b, { role: 'server', identity: serverId!, backend });
        attacker.onLane(REQUEST_LANE, () => {}); // the victim never answers (its handler parks), nor may anything else reach us
        victim.onRequest(() => new Promise<string>(() => {}));
        victim.on('message', (m) => void victim.send(m).catch(() => {}));
        const victimEnd = closeReason(victim);
        await Promise.all([attacker.ready, victim.ready]);
        // The model: the rules of §3.1 for a responder whose handler never answers.
        let last = 0;
        const outstanding = new Set<number>();
        let broken = false;
        const send = (bytes: Buffer) => void attacker.sendOnLane(REQUEST_LANE, bytes).catch(() => {});
        const request = (id: number) => {
          if (id <= last || outstanding.size >= MAX_OUTSTANDING_REQUESTS) broken = true;
          last = Math.max(last, id);
          outstanding.add(id);
          send(encodeRequest(id, Buffer.from('x')));
        };
        for (const step of ops) {
          if (broken) break;
          if (step.t === 'request') request(Math.max(1, last + step.step));
          else if (step.t === 'burst') for (let i = 0; i < step.count && !broken; i++) request(last + 1);
          else if (step.t === 'cancel') {
            const id = Math.max(1, last - step.back);
            if (id > last) broken = true;
            outstanding.delete(id);
            send(encodeCancel(id));
          } else if (step.t === 'answer') {
            broken = true; // the victim never asked anything
            send(encodeReply(step.id, Buffer.alloc(0)));
          } else {
            broken = true; // shorter than the header
            send(Buffer.from(step.bytes));
          }
        }
        // A message behind them all comes back only if the victim read every one and went on.
        const echoed = attacker.send('still there?').then(() => attacker.receive()).then(() => true, () => false);
        if (broken) {
          outcomes.refused++;
          const error = await victimEnd;
          assert.ok(hasCode(ErrorCode.PROTOCOL)(error), `victim ended with ${error?.code}: ${error?.message}`);
          assert.equal(await echoed, false);
        } else {
          outcomes.accepted++;
          assert.equal(await echoed, true);
          assert.equal(victim.closed, false);
        }
        attacker.destroy();
        victim.destroy();
      }),
      { numRuns: 40 },
    );
    assert.ok(outcomes.refused > 0 && outcomes.accepted > 0, JSON.stringify(outcomes));
  });
});
