/**
 * idleTimeoutMs and keepAliveMs now share one QuietTimer: whatever timers a
 * channel arms for them, all are unref'd (they never hold the process) and
 * all are gone once the channel has closed — cleanly, by destroy(), or by
 * the idle close itself. Tracked through async_hooks, so no assertion here
 * depends on how long anything takes.
 */

import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { describe, it } from 'node:test';
import { QuietTimer } from '../src/channel/quiet-timer.ts';
import type { Channel } from '../src/protocol/channel.ts';
import { memoryChannels } from './helpers/memory-pair.ts';

interface TrackedTimer {
  resource: NodeJS.Timeout;
}

/** Timeouts created while `track` is on and not yet destroyed (fired without re-arming, or cleared). */
const live = new Map<number, TrackedTimer>();
let tracking = false;
createHook({
  init(id, type, _trigger, resource) {
    if (tracking && type === 'Timeout') live.set(id, { resource: resource as NodeJS.Timeout });
  },
  destroy(id) {
    live.delete(id);
  },
}).enable();

/** Lets the destroy hooks of cleared timers run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

function closed(channel: Channel): Promise<unknown> {
  return new Promise((resolve) => channel.once('close', resolve));
}

const QUIET = { idleTimeoutMs: 60_000, keepAliveMs: 60_000 };

describe('review-s5: the quiet timers of idleTimeoutMs and keepAliveMs', () => {
  for (const ending of ['close()', 'destroy()'] as const) {
    it(`are unref'd while open and all cleared after ${ending}`, async () => {
      live.clear();
      tracking = true;
      const { client, server } = await memoryChannels({ client: { ...QUIET, backend: 'native' }, server: { ...QUIET, backend: 'native' } });
      await client.send('traffic');
      await server.receive();
      tracking = false;
      // Timers already cleared (the handshake's deadline) go first.
      await settle();
      const armed = [...live.values()];
      const armedIds = [...live.keys()];
      assert.ok(armed.length >= 4, `both sides armed an idle and a keepalive timer (${armed.length} live)`);
      for (const { resource } of armed) assert.equal(resource.hasRef(), false, 'a quiet timer holds the process');
      const ends = [closed(client), closed(server)];
      if (ending === 'close()') await Promise.all([client.close(), server.close()]);
      else client.destroy();
      await Promise.all(ends);
      await settle();
      assert.deepEqual(armedIds.filter((id) => live.has(id)), [], 'timers left armed after the channel closed');
    });
  }

  it('the idle close itself leaves no timer armed', async (t) => {
    // The channels' timers are all unref'd and a memory pair holds nothing open: this keeps the process up meanwhile.
    const keeper = setInterval(() => {}, 1000);
    t.after(() => clearInterval(keeper));
    live.clear();
    tracking = true;
    const { client, server } = await memoryChannels({ client: { idleTimeoutMs: 1, keepAliveMs: 60_000, backend: 'native' }, server: { keepAliveMs: 60_000, backend: 'native' } });
    const ends = Promise.all([closed(client), closed(server)]);
    // The server answers the client's idle CLOSE as an application does: once its messages end.
    for await (const _ of server);
    await server.close();
    const [clientError, serverError] = await ends;
    tracking = false;
    assert.equal(clientError, undefined);
    assert.equal(serverError, undefined);
    assert.equal(client.closeReason, 'idle');
    await settle();
    assert.deepEqual([...live.keys()], [], 'timers left armed after the idle close');
  });

  it('a decision that stopped its own timer (a ping that failed and ended the channel) does not re-arm it', async (t) => {
    const keeper = setInterval(() => {}, 1000);
    t.after(() => clearInterval(keeper));
    live.clear();
    tracking = true;
    let decisions = 0;
    await new Promise<void>((resolve) => {
      const quiet = new QuietTimer(() => {
        decisions++;
        quiet.stop();
        resolve();
        return 5;
      }, () => false);
      quiet.start(1);
    });
    tracking = false;
    await settle();
    assert.equal(decisions, 1);
    assert.deepEqual([...live.keys()], [], 'the stopped timer was armed again');
  });
});
