/**
 * createClient(): a reconnecting client over real loopback sockets, against
 * a server in its own process that is killed with SIGKILL and started again
 * on the same port. What the server read is counted on the server's side.
 * Backoff is checked through the delays the client reports, never by wall time.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode, NetcryptError, isNetcryptError } from '../src/errors.ts';
import { type Identity, saveIdentity } from '../src/keys/identity.ts';
import { type Client, type ClientOptions, type ReconnectingInfo, createClient } from '../src/protocol/client.ts';
import { createServer } from '../src/protocol/server.ts';
import { testIdentities } from './helpers/identities.ts';
import { serve } from './helpers/net.ts';
import { freePort } from './helpers/tor-daemons.ts';

const SERVER_SCRIPT = fileURLToPath(new URL('./helpers/restartable-server.ts', import.meta.url));
const EXIT_SCRIPT = fileURLToPath(new URL('./helpers/client-close-exit.ts', import.meta.url));

/** A server process and the lines it printed. */
class ServerProcess {
  readonly lines: string[] = [];
  readonly #child: ChildProcess;
  readonly #waiters: (() => void)[] = [];
  readonly exited: Promise<unknown>;

  constructor(port: number, keyPath: string, mode: 'log' | 'hold-odd' | 'stall') {
    this.#child = spawn(process.execPath, ['--import', 'tsx', SERVER_SCRIPT, String(port), keyPath, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = once(this.#child, 'exit');
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    running.add(this);
  }

  /** Resolves once the lines printed so far satisfy `done`. */
  async until(done: (lines: string[]) => boolean): Promise<void> {
    while (!done(this.lines)) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  async port(): Promise<number> {
    await this.until((lines) => lines.some((line) => line.startsWith('port ')));
    return Number(this.lines.find((line) => line.startsWith('port '))!.slice(5));
  }

  /** SIGSTOP / SIGCONT: the process stops answering without closing anything, then goes on. */
  pause(paused: boolean): void {
    this.#child.kill(paused ? 'SIGSTOP' : 'SIGCONT');
  }

  /** SIGKILL: no close, no FIN from the application, nothing flushed. */
  async kill(): Promise<void> {
    this.#child.kill('SIGKILL');
    await this.exited;
    running.delete(this);
  }

  messages(): string[] {
    return this.lines.filter((line) => line.startsWith('message ')).map((line) => line.slice(8));
  }

  requests(): string[] {
    return this.lines.filter((line) => line.startsWith('request ')).map((line) => line.slice(8));
  }

  count(line: string): number {
    return this.lines.filter((each) => each === line).length;
  }
}

const running = new Set<ServerProcess>();
let dir: string;
let identities: Identity[];
let keyA: string;
let keyB: string;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'netcrypt-client-'));
  identities = await testIdentities();
  keyA = path.join(dir, 'a.key');
  keyB = path.join(dir, 'b.key');
  await saveIdentity(identities[0]!, keyA);
  await saveIdentity(identities[1]!, keyB);
});

after(async () => {
  for (const server of running) await server.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** The events a client emitted, in order. */
function record(client: Client) {
  const events: { reconnecting: ReconnectingInfo[]; disconnects: (NetcryptError | undefined)[]; connects: number; errors: NetcryptError[] } = {
    reconnecting: [],
    disconnects: [],
    connects: 0,
    errors: [],
  };
  client.on('reconnecting', (info) => events.reconnecting.push(info));
  client.on('disconnect', (error) => events.disconnects.push(error));
  client.on('connect', () => events.connects++);
  client.on('error', (error) => events.errors.push(error));
  return events;
}

/** Every client a test made is closed when the file ends, so that a failed test leaves none dialing. */
const clients: Client[] = [];
after(() => Promise.all(clients.map((client) => client.close())));

function clientOf(port: number, options: Partial<ClientOptions> = {}): Client {
  return track(createClient({ port, pin: identities[0]!.fingerprint, identity: identities[2]!, reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...options }));
}

function track(client: Client): Client {
  clients.push(client);
  return client;
}

/** The 'close' event's error (events.once would reject on the 'error' that precedes it). */
function closing(client: Client): Promise<NetcryptError | undefined> {
  return new Promise((resolve) => client.once('close', resolve));
}


/** The highest delay attempt n may wait: min(max, initial · 2^(n−1)). */
const ceiling = (attempt: number, initial: number, max: number) => Math.min(max, initial * 2 ** (attempt - 1));

describe('createClient over a server that is killed and restarted', { timeout: 120_000 }, () => {
  it('sends made while the server is down wait for it, and every message arrives exactly once', async () => {
    const first = new ServerProcess(0, keyA, 'log');
    const port = await first.port();
    const client = clientOf(port);
    const events = record(client);
    await once(client, 'connect');
    const before = ['a0', 'a1', 'a2', 'a3', 'a4'];
    for (const text of before) await client.send(text);
    await first.until(() => first.messages().length === before.length);

    const disconnected = once(client, 'disconnect');
    await first.kill();
    const [lost] = (await disconnected) as [NetcryptError];
    assert.equal(lost.code, ErrorCode.TRUNCATED);
    assert.equal(client.channel, undefined);
    const queued = ['b0', 'b1', 'b2', 'b3', 'b4'];
    const sends = queued.map((text) => client.send(text));

    const second = new ServerProcess(port, keyA, 'log');
    await Promise.all(sends);
    await client.close();
    await second.until((lines) => lines.includes('closed'));
    await second.kill();

    assert.deepEqual(first.messages(), before);
    assert.deepEqual(second.messages(), queued, 'the queued messages arrive once each, in order, and nothing from before is replayed');
    assert.equal(events.connects, 2);
    assert.ok(events.reconnecting.length >= 1);
    for (const { attempt, delayMs } of events.reconnecting) assert.ok(delayMs >= 0 && delayMs <= ceiling(attempt, 20, 200), `attempt ${attempt} waited ${delayMs}`);
    assert.deepEqual(
      events.reconnecting.map((info) => info.attempt),
      events.reconnecting.map((_, index) => index + 1),
    );
    assert.deepEqual(events.errors, []);
  });

  it('requests in flight when the server dies are unconfirmed, those made while it is down are answered by the next one, none runs twice', async () => {
    const first = new ServerProcess(0, keyA, 'hold-odd');
    const port = await first.port();
    const client = clientOf(port);
    await once(client, 'connect');
    // The first life answers r…0, r…2, … and holds every odd one until it dies.
    const early = Array.from({ length: 40 }, (_, index) => `r${index}`);
    const earlyCalls = early.map((text) => client.request(text).then((reply) => reply.toString(), (error: unknown) => error));
    await first.until(() => first.requests().length === early.length);
    const answered = await Promise.all(earlyCalls.filter((_, index) => index % 2 === 0));
    assert.deepEqual(answered, early.filter((_, index) => index % 2 === 0).map((text) => `reply ${text}`));

    const disconnected = once(client, 'disconnect');
    await first.kill();
    await disconnected;
    const late = Array.from({ length: 20 }, (_, index) => `q${index}`);
    const lateCalls = late.map((text) => client.request(text, { timeoutMs: 60_000 }).then((reply) => reply.toString(), (error: unknown) => error));
    const failing = client.request('fail').catch((error: unknown) => error);
    const second = new ServerProcess(port, keyA, 'log');
    const lateOutcomes = await Promise.all(lateCalls);
    const held = await Promise.all(earlyCalls.filter((_, index) => index % 2 === 1));
    const remote = await failing;
    await client.close();
    await second.until((lines) => lines.includes('closed'));
    await second.kill();

    for (const error of held) {
      assert.ok(isNetcryptError(error, ErrorCode.UNCONFIRMED), String(error));
      assert.ok(isNetcryptError(error.cause, ErrorCode.TRUNCATED), String(error.cause));
    }
    assert.deepEqual(lateOutcomes, late.map((text) => `reply ${text}`));
    assert.ok(isNetcryptError(remote, ErrorCode.REMOTE), 'a handler\'s failure is its own answer, not an unconfirmed call');
    assert.equal(remote.remoteCode, 'E_ASKED');
    // Counted where the requests ran: each once, the unconfirmed ones in the first life only.
    assert.deepEqual(first.requests().sort(), [...early].sort());
    assert.deepEqual(second.requests().sort(), [...late, 'fail'].sort());
  });

  it('a server that stops answering is found by keepAliveMs: its request is unconfirmed, and the client comes back when it does', async () => {
    const server = new ServerProcess(0, keyA, 'hold-odd');
    const port = await server.port();
    const client = clientOf(port, { keepAliveMs: 200, handshakeTimeoutMs: 2000 });
    const events = record(client);
    await once(client, 'connect');
    const held = client.request('r1').catch((error: unknown) => error);
    await server.until(() => server.requests().includes('r1'));
    const disconnected = once(client, 'disconnect');
    server.pause(true);
    const [lost] = (await disconnected) as [NetcryptError];
    assert.equal(lost.code, ErrorCode.TIMEOUT, 'no FIN, no reset: only the missing PONGs tell');
    const error = await held;
    assert.ok(isNetcryptError(error, ErrorCode.UNCONFIRMED), String(error));
    assert.equal(error.cause, lost);

    const reconnected = once(client, 'connect');
    await once(client, 'reconnecting');
    server.pause(false);
    await reconnected;
    assert.equal((await client.request('r2')).toString(), 'reply r2');
    await client.close();
    await server.kill();
    assert.deepEqual(server.requests(), ['r1', 'r2']);
    assert.deepEqual(events.errors, []);
  });

  it('sends in flight when the server dies are rejected as unconfirmed, not sent again', async () => {
    const first = new ServerProcess(0, keyA, 'stall');
    const port = await first.port();
    const client = clientOf(port);
    await once(client, 'connect');
    // 32 MiB to a server that reads nothing: its inbox pauses the socket, the pipe fills, sends wait.
    const big = Buffer.alloc(1024 * 1024, 0x61);
    const sends = Array.from({ length: 32 }, () => client.send(big).then(() => 'taken', (error: unknown) => error));
    await first.kill();
    const outcomes = await Promise.all(sends);

    const rejected = outcomes.filter((outcome) => outcome !== 'taken');
    assert.ok(rejected.length > 0, 'a non-reading server cannot have taken 32 MiB');
    for (const error of rejected) {
      assert.ok(isNetcryptError(error, ErrorCode.UNCONFIRMED), String(error));
      assert.ok(isNetcryptError(error.cause, ErrorCode.TRUNCATED), String(error.cause));
    }

    const second = new ServerProcess(port, keyA, 'log');
    await once(client, 'connect');
    await client.send('after');
    await client.close();
    await second.until((lines) => lines.includes('closed'));
    await second.kill();
    assert.deepEqual(second.messages(), ['after'], 'nothing in flight before the crash is replayed');
  });

  for (const trust of ['pin', 'knownHosts'] as const) {
    it(`a server back with another key is refused once, and the client stops (${trust})`, async () => {
      const first = new ServerProcess(0, keyA, 'log');
      const port = await first.port();
      const options = trust === 'pin' ? {} : { pin: undefined, knownHosts: path.join(dir, `known_hosts-${port}`) };
      const client = clientOf(port, options);
      const events = record(client);
      await once(client, 'connect');
      const disconnected = once(client, 'disconnect');
      await first.kill();
      await disconnected;
      const waiting = client.send('for the real server').catch((error: unknown) => error);

      const closed = closing(client);
      const impostor = new ServerProcess(port, keyB, 'log');
      const closeError = (await closed)!;
      const reconnectsBeforeGivingUp = events.reconnecting.length;
      await impostor.kill();

      assert.equal(closeError.code, ErrorCode.PEER_KEY_MISMATCH);
      assert.deepEqual(events.errors, [closeError]);
      assert.equal(impostor.count('connection'), 1, 'one look at the new key, no retry storm');
      assert.equal(events.reconnecting.length, reconnectsBeforeGivingUp);
      assert.ok(
        events.reconnecting.every((info) => info.error?.code !== ErrorCode.PEER_KEY_MISMATCH),
        'no retry after the mismatch',
      );
      const error = await waiting;
      assert.ok(isNetcryptError(error, ErrorCode.NOT_CONNECTED));
      assert.equal(error.cause, closeError);
      assert.equal(impostor.messages().length, 0);
      assert.equal(client.closed, true);
      await assert.rejects(client.send('later'), { code: ErrorCode.NOT_CONNECTED });
    });
  }
});

describe('createClient backoff', () => {
  it('doubles from initialDelayMs up to maxDelayMs (no jitter), then gives up after maxRetries', async () => {
    const port = await freePort();
    const client = clientOf(port, { reconnect: { initialDelayMs: 5, maxDelayMs: 40, maxRetries: 6, jitter: false } });
    const events = record(client);
    const waiting = client.send('never').catch((error: unknown) => error);
    const closeError = (await closing(client))!;

    assert.deepEqual(
      events.reconnecting.map(({ attempt, delayMs }) => [attempt, delayMs]),
      [
        [1, 5],
        [2, 10],
        [3, 20],
        [4, 40],
        [5, 40],
        [6, 40],
      ],
    );
    for (const info of events.reconnecting) assert.equal(info.error?.code, ErrorCode.CONNECT);
    assert.equal(closeError.code, ErrorCode.NOT_CONNECTED);
    assert.ok(isNetcryptError(closeError.cause, ErrorCode.CONNECT));
    assert.deepEqual(events.errors, [closeError]);
    const error = await waiting;
    assert.ok(isNetcryptError(error, ErrorCode.NOT_CONNECTED));
    assert.equal(error.cause, closeError);
  });

  it('with full jitter each delay lies in [0, min(max, initial · 2^(n−1))]', async () => {
    const port = await freePort();
    const client = clientOf(port, { reconnect: { initialDelayMs: 4, maxDelayMs: 32, maxRetries: 8 } });
    const events = record(client);
    await closing(client);
    assert.deepEqual(
      events.reconnecting.map((info) => info.attempt),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    for (const { attempt, delayMs } of events.reconnecting) {
      assert.ok(Number.isInteger(delayMs) && delayMs >= 0 && delayMs <= ceiling(attempt, 4, 32), `attempt ${attempt} waited ${delayMs}`);
    }
  });

  it('maxRetries 0 never redials, and maxQueued 0 fails calls at once instead of queueing them', async () => {
    const port = await freePort();
    const client = clientOf(port, { reconnect: { maxRetries: 0 }, maxQueued: 0 });
    const events = record(client);
    const closed = closing(client);
    await assert.rejects(client.send('x'), { code: ErrorCode.NOT_CONNECTED });
    const closeError = (await closed)!;
    assert.equal(closeError.code, ErrorCode.NOT_CONNECTED);
    assert.deepEqual(events.reconnecting, []);
  });
});

describe('createClient lifecycle', () => {
  it('reconnects after the server closes the channel cleanly; a request it left unanswered is unconfirmed', async () => {
    let served = 0;
    const server = createServer({ identity: identities[0]!, handshakeRate: false }, async (channel) => {
      served++;
      channel.onRequest(() => new Promise<string>(() => {})); // never answers
      for await (const message of channel) {
        if (message.toString() === 'bye') break;
        await channel.send(`echo ${message.toString()}`);
      }
      await channel.close();
    });
    const port = await serve(server);
    const client = clientOf(port);
    const events = record(client);
    const [first] = (await once(client, 'connect')) as [NonNullable<Client['channel']>];
    const disconnected = once(client, 'disconnect');
    const unanswered = client.request('held').catch((error: unknown) => error);
    await client.send('bye');
    assert.deepEqual(await disconnected, [undefined], 'a clean close is no error');
    const error = await unanswered;
    assert.ok(isNetcryptError(error, ErrorCode.UNCONFIRMED), String(error));
    assert.ok(isNetcryptError(error.cause, ErrorCode.CLOSED), 'in flight at a clean close is unconfirmed too');
    const [second] = (await once(client, 'connect')) as [NonNullable<Client['channel']>];
    assert.notEqual(second, first);
    assert.equal(client.channel, second);
    await client.send('hello');
    assert.equal((await second.receive()).toString(), 'echo hello');
    await client.close();
    assert.equal(served, 2);
    assert.equal(events.reconnecting.length, 1);
    assert.equal(events.reconnecting[0]!.error, undefined);
  });

  it('close() during the backoff resolves and leaves no timer or socket behind (the process exits by itself)', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', EXIT_SCRIPT, String(port), identities[0]!.fingerprint], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
    const report = JSON.parse(output) as { resources: string[]; sendCode: string; closeEvents: number; dialsBeforeClose: number };
    assert.deepEqual(
      report.resources.filter((resource) => resource === 'Timeout' || resource === 'TCPWrap' || resource === 'TCPSocketWrap'),
      [],
      report.resources.join(', '),
    );
    assert.equal(report.sendCode, ErrorCode.NOT_CONNECTED);
    assert.equal(report.closeEvents, 1);
  });

  it('an aborted signal closes the client during a dial, and calls made after it fail', async () => {
    // A server that never completes the handshake: the client is stuck dialing when the signal fires.
    const silent = (await import('node:net')).createServer((socket) => socket.on('error', () => {}));
    const port = await serve(silent);
    const controller = new AbortController();
    const client = clientOf(port, { signal: controller.signal });
    const events = record(client);
    const waiting = client.send('x').catch((error: unknown) => error);
    await once(silent, 'connection');
    const closed = closing(client);
    controller.abort();
    assert.equal(await closed, undefined);
    const error = await waiting;
    assert.ok(isNetcryptError(error, ErrorCode.NOT_CONNECTED));
    assert.ok(isNetcryptError(error.cause, ErrorCode.ABORTED));
    assert.deepEqual(events.errors, []);
    assert.equal(events.connects, 0);
    await client.close();
  });

  it('a call waiting for a connection honours its own timeout and signal, and fails when the client closes', async () => {
    const port = await freePort();
    const client = clientOf(port, { reconnect: { initialDelayMs: 1000, maxDelayMs: 1000, jitter: false } });
    const controller = new AbortController();
    const aborted = client.send('a', { signal: controller.signal });
    const timedOut = client.send('b', { timeoutMs: 1 });
    const requestTimedOut = client.request('c', { timeoutMs: 1 });
    controller.abort();
    await assert.rejects(aborted, { code: ErrorCode.ABORTED });
    await assert.rejects(timedOut, { code: ErrorCode.TIMEOUT });
    await assert.rejects(requestTimedOut, { code: ErrorCode.TIMEOUT });
    const waiting = client.request('d');
    await client.close();
    await assert.rejects(waiting, { code: ErrorCode.NOT_CONNECTED });
    await assert.rejects(client.request('e'), { code: ErrorCode.NOT_CONNECTED });
  });

  it('refuses missing trust and bad reconnect options before dialing', () => {
    assert.throws(() => createClient({ port: 1 }), { code: ErrorCode.INVALID_ARGUMENT });
    assert.throws(() => createClient({ port: 1, trust: 'any', reconnect: { maxRetries: -1 } }), { code: ErrorCode.INVALID_ARGUMENT });
    assert.throws(() => createClient({ port: 1, trust: 'any', reconnect: { initialDelayMs: 100, maxDelayMs: 10 } }), { code: ErrorCode.INVALID_ARGUMENT });
    assert.throws(() => createClient({ port: 1, trust: 'any', maxQueued: 1.5 }), { code: ErrorCode.INVALID_ARGUMENT });
    assert.throws(() => createClient({ port: 1, trust: 'any', idleTimeoutMs: 1000 } as ClientOptions), { code: ErrorCode.INVALID_ARGUMENT });
  });
});
