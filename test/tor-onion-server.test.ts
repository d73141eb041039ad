/** createOnionServer against a real tor (DisableNetwork 1): the address is published and the server answers on loopback. */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { connect } from '../src/protocol/connect.ts';
import { createOnionServer } from '../src/protocol/onion-server.ts';
import { isValidOnionAddress } from '../src/tor/onion-address.ts';
import { hostOnionService } from '../src/tor/onion-service.ts';
import { testIdentities } from './helpers/identities.ts';
import { type TorDaemon, startTor } from './helpers/tor-daemons.ts';

const [serverId, clientId] = await testIdentities();

describe('createOnionServer', () => {
  let tor: TorDaemon;
  before(async () => {
    tor = await startTor();
  });
  after(() => tor?.stop());

  it('publishes a v3 onion address for a netcrypt server and removes it on close', async () => {
    const onion = await createOnionServer({ identity: serverId, onion: { controlPort: tor.controlPort, virtualPort: 4000 } }, async (channel) => {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    });
    assert.ok(isValidOnionAddress(onion.address), onion.address);
    assert.equal(onion.virtualPort, 4000);
    // Live: Tor refuses to host the same key twice.
    await assert.rejects(hostOnionService({ port: 1, controlPort: tor.controlPort, privateKey: onion.privateKey }), { code: 'ERR_TOR_CONTROL' });
    // Tor has no network here; the server behind the service answers on its loopback port.
    const { port } = onion.server.address() as { port: number };
    const channel = await connect({ port, identity: clientId, pin: serverId!.fingerprint });
    await channel.send('hello onion');
    assert.equal((await channel.receive()).toString(), 'hello onion');
    await channel.close();
    await onion.close();
    assert.equal(onion.server.listening, false);
    // Removed: the same key now hosts the same address again.
    const again = await hostOnionService({ port: 1, controlPort: tor.controlPort, privateKey: onion.privateKey });
    assert.equal(again.address, onion.address);
    await again.close();
  });

  it('stopListening() removes the service and keeps the open channels; close() then ends them with an authenticated close', async () => {
    const onion = await createOnionServer({ identity: serverId, onion: { controlPort: tor.controlPort, virtualPort: 4000 } }, async (channel) => {
      for await (const message of channel) await channel.send(message);
      await channel.close();
    });
    const { port } = onion.server.address() as { port: number };
    const channel = await connect({ port, identity: clientId, pin: serverId!.fingerprint });
    await onion.stopListening();
    assert.equal(onion.server.listening, false);
    await assert.rejects(connect({ port, identity: clientId, pin: serverId!.fingerprint }), { code: 'ERR_CONNECT' });
    const again = await hostOnionService({ port: 1, controlPort: tor.controlPort, privateKey: onion.privateKey });
    await again.close();
    await channel.send('still here');
    assert.equal((await channel.receive()).toString(), 'still here');
    const departure = once(channel, 'end').then(() => channel.close());
    await onion.close({ graceMs: 60_000 });
    await departure;
    assert.equal(channel.closedCleanly, true);
    assert.equal(onion.server.channels.size, 0);
  });

  it('a control port that refuses us fails with ERR_TOR_CONTROL', async () => {
    await assert.rejects(
      createOnionServer({ identity: serverId, onion: { controlPort: tor.controlPort, virtualPort: 4000, password: 'wrong' } }, () => {}),
      { code: 'ERR_TOR_CONTROL' },
    );
  });
});
