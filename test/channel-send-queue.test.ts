/**
 * Slow consumers: `bufferedAmount` and the send-queue policy. A broadcast to
 * a room where one client has stopped (a separate process, SIGSTOPped) must
 * keep delivering to the others, holding at most the limit for the stopped one.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetcryptError } from '../src/errors.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import type { SendQueuePolicy } from '../src/channel/secure-channel.ts';
import { testIdentities } from './helpers/identities.ts';
import { loopbackPair } from './helpers/loopback-pair.ts';
import { serve } from './helpers/net.ts';

const [serverId, clientId] = await testIdentities();
const script = fileURLToPath(new URL('./helpers/stalled-reader.ts', import.meta.url));
/** Above the 1 MiB a reading client may have queued when its send resolves. */
const LIMIT = 4 << 20;
/** Larger than a BATCH entry, so each message is a record of its own. */
const SIZE = 20_000;
/** 40 MB per client: far beyond what the kernel's loopback buffers (a few MB) and LIMIT absorb for a stopped reader. */
const MESSAGES = 2000;

const children: ChildProcess[] = [];
after(() => {
  for (const child of children) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
});

function message(index: number): Buffer {
  const bytes = Buffer.alloc(SIZE, index & 0xff);
  bytes.writeUInt32BE(index, 0);
  return bytes;
}

/** A client that counts what it receives, checking order. */
async function reader(port: number): Promise<{ channel: Channel; received: Promise<number> }> {
  const channel = await connect({ port, identity: clientId, pin: serverId!.fingerprint });
  const received = (async () => {
    let next = 0;
    for await (const m of channel) {
      assert.equal(m.readUInt32BE(0), next, 'in order, none missing');
      assert.equal(m.length, SIZE);
      if (++next === MESSAGES) return next;
    }
    return next;
  })();
  return { channel, received };
}

/** A room of three: first a client process that is then stopped, then two that read. */
async function room(policy: SendQueuePolicy) {
  const joined: Channel[] = [];
  let onJoin!: () => void;
  const server = createServer({ identity: serverId, sendQueuePolicy: policy, sendQueueLimitBytes: LIMIT }, (channel) => {
    joined.push(channel);
    onJoin();
  });
  const port = await serve(server);
  const joinedOne = () => new Promise<void>((resolve) => (onJoin = resolve));
  const first = joinedOne();
  const child = spawn(process.execPath, ['--import', 'tsx', script, String(port), serverId!.fingerprint], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'ready');
  await first;
  child.kill('SIGSTOP');
  const readers = [];
  for (let i = 0; i < 2; i++) {
    const next = joinedOne();
    readers.push(await reader(port));
    await next;
  }
  return { stopped: joined[0]!, healthy: joined.slice(1), readers, child, exited };
}

type Outcome = 'sent' | NetcryptError;

/** Sends every message to every channel; the healthy ones pace the room, nobody waits for the stopped one. */
async function broadcast(stopped: Channel, healthy: Channel[]) {
  const outcomes: Promise<Outcome>[] = [];
  let maxBuffered = 0;
  for (let i = 0; i < MESSAGES; i++) {
    const bytes = message(i);
    outcomes.push(stopped.send(bytes).then(() => 'sent' as const, (error: NetcryptError) => error));
    await Promise.all(healthy.map((channel) => channel.send(bytes)));
    maxBuffered = Math.max(maxBuffered, stopped.bufferedAmount);
  }
  return { outcomes, maxBuffered };
}

describe('slow consumers', () => {
  it("'fail': sends to the stopped client are refused at the limit, the others get everything, and the stopped one gets exactly what was accepted", async () => {
    const { stopped, healthy, readers, child, exited } = await room('fail');
    const { outcomes, maxBuffered } = await broadcast(stopped, healthy);
    assert.deepEqual(await Promise.all(readers.map((r) => r.received)), [MESSAGES, MESSAGES]);
    assert.ok(maxBuffered <= LIMIT, `held ${maxBuffered} bytes for the stopped client`);
    assert.ok(stopped.bufferedAmount <= LIMIT);
    assert.equal(stopped.closed, false, 'a refused send does not end the channel');

    // The stopped client resumes: it reads exactly the messages whose sends were accepted.
    child.kill('SIGCONT');
    const settled = await Promise.all(outcomes);
    const refused = settled.filter((outcome) => outcome !== 'sent');
    assert.ok(refused.length > 0, 'the stopped client was refused something');
    for (const error of refused) assert.ok(error instanceof NetcryptError && error.code === 'ERR_SEND_QUEUE_FULL', String(error));
    const accepted = settled.flatMap((outcome, index) => (outcome === 'sent' ? [index] : []));
    await stopped.send('end');
    const reply = await stopped.receive();
    assert.deepEqual(JSON.parse(reply.toString()), accepted);
    await Promise.all([stopped.close(), ...healthy.map((c) => c.close()), ...readers.map((r) => r.channel.close())]);
    assert.equal(stopped.closedCleanly, true);
    assert.deepEqual(await exited, [0, null]);
  });

  it("'drop': the stopped client's channel ends with ERR_SEND_QUEUE_FULL, the others get everything", async () => {
    const { stopped, healthy, readers } = await room('drop');
    const closed = once(stopped, 'close');
    const { outcomes, maxBuffered } = await broadcast(stopped, healthy);
    assert.deepEqual(await Promise.all(readers.map((r) => r.received)), [MESSAGES, MESSAGES]);
    assert.ok(maxBuffered <= LIMIT, `held ${maxBuffered} bytes for the stopped client`);
    const [reason] = (await closed) as [NetcryptError];
    assert.equal(reason.code, 'ERR_SEND_QUEUE_FULL');
    const settled = await Promise.all(outcomes);
    assert.ok(settled.at(-1) instanceof NetcryptError);
    for (const outcome of settled) assert.ok(outcome === 'sent' || outcome.code === 'ERR_SEND_QUEUE_FULL', String(outcome));
    await assert.rejects(stopped.send('after the drop'), { code: 'ERR_SEND_QUEUE_FULL' });
    await Promise.all([...healthy.map((c) => c.close()), ...readers.map((r) => r.channel.close())]);
  });

  describe('bufferedAmount and the limit on one connection', () => {
    it('counts what send() accepted until the kernel has it', async () => {
      const { client: channel, server: peer } = await loopbackPair();
      assert.equal(channel.bufferedAmount, 0);
      const big = channel.send(Buffer.alloc(200_000, 1));
      assert.ok(channel.bufferedAmount >= 200_000, `${channel.bufferedAmount}`);
      const small = channel.send('small');
      assert.ok(channel.bufferedAmount >= 200_005);
      await Promise.all([big, small, channel.flush()]);
      assert.equal(channel.bufferedAmount, 0);
      assert.equal((await peer.receive()).length, 200_000);
      assert.equal((await peer.receive()).toString(), 'small');
      await Promise.all([channel.close(), peer.close()]);
    });

    it("'fail': a message alone always goes; one that would pass the limit is refused and never arrives", async () => {
      const { client: channel, server: peer } = await loopbackPair({ client: { sendQueuePolicy: 'fail', sendQueueLimitBytes: 1000 } });
      const first = channel.send(Buffer.alloc(5000, 1));
      await assert.rejects(channel.send('refused'), { code: 'ERR_SEND_QUEUE_FULL' });
      await first;
      await channel.flush();
      await channel.send('accepted');
      assert.equal((await peer.receive()).length, 5000);
      assert.equal((await peer.receive()).toString(), 'accepted');
      await Promise.all([channel.close(), peer.close()]);
    });

    it('refuses a bad limit or policy', async () => {
      const port = await serve(createServer({ identity: serverId }, () => {}));
      const base = { port, identity: clientId, pin: serverId!.fingerprint };
      await assert.rejects(connect({ ...base, sendQueueLimitBytes: 0 }), { code: 'ERR_INVALID_ARGUMENT' });
      await assert.rejects(connect({ ...base, sendQueuePolicy: 'block' as SendQueuePolicy }), { code: 'ERR_INVALID_ARGUMENT' });
    });
  });
});
