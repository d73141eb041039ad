import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { TorControl } from '../src/tor/control-port.ts';
import { isValidOnionAddress, onionPublicKey } from '../src/tor/onion-address.ts';
import { hostOnionService } from '../src/tor/onion-service.ts';
import { type TorDaemon, freePort, startTor } from './helpers/tor-daemons.ts';
import { rejectsWith } from './helpers/tor-errors.ts';

/** An independent encoder for the tests: base32(pubkey ‖ checksum ‖ version) + ".onion", checksum over the given version. */
function onionAddress(pubkey: Buffer, version = 3): string {
  const versionByte = Buffer.of(version);
  const checksum = createHash('sha3-256').update('.onion checksum').update(pubkey).update(versionByte).digest().subarray(0, 2);
  const bytes = Buffer.concat([pubkey, checksum, versionByte]);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = '';
  for (const byte of bytes) bits += byte.toString(2).padStart(8, '0');
  let text = '';
  for (let i = 0; i < bits.length; i += 5) text += alphabet[Number.parseInt(bits.slice(i, i + 5), 2)];
  return `${text}.onion`;
}

describe('isValidOnionAddress', () => {
  test("accepts well-known v3 addresses (the Tor Project's, DuckDuckGo's)", () => {
    assert.ok(isValidOnionAddress('2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion'));
    assert.ok(isValidOnionAddress('duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion'));
  });

  test('accepts addresses built from any key, in either case, and returns the key', () => {
    for (let i = 0; i < 20; i++) {
      const pubkey = randomBytes(32);
      const address = onionAddress(pubkey);
      assert.ok(isValidOnionAddress(address), address);
      assert.ok(isValidOnionAddress(address.toUpperCase()));
      assert.deepEqual(onionPublicKey(address.slice(0, 56)), pubkey);
    }
  });

  test('rejects a wrong checksum, a wrong version, a wrong length, foreign characters and v2 addresses', () => {
    const address = onionAddress(randomBytes(32));
    const flipped = `${address[0] === 'a' ? 'b' : 'a'}${address.slice(1)}`;
    assert.ok(!isValidOnionAddress(flipped), 'one character changed');
    assert.ok(!isValidOnionAddress(onionAddress(randomBytes(32), 4)), 'version 4, checksum consistent with it');
    assert.ok(!isValidOnionAddress(address.slice(1)), '55 characters');
    assert.ok(!isValidOnionAddress(`a${address}`), '57 characters');
    assert.ok(!isValidOnionAddress(address.slice(0, 56)), 'no .onion');
    assert.ok(!isValidOnionAddress(`${address.slice(0, 55)}1.onion`), 'a character outside base32');
    assert.ok(!isValidOnionAddress('expyuzz4wqqyqhjn.onion'), 'a v2 address');
    assert.ok(!isValidOnionAddress(`sub.${address}`), 'subdomains are not part of the address');
    assert.ok(!isValidOnionAddress(''));
  });
});

describe('hostOnionService against a real tor (DisableNetwork 1)', () => {
  let tor: TorDaemon;

  before(async () => {
    tor = await startTor();
  });
  after(async () => {
    await tor?.stop();
  });

  test('ADD_ONION NEW:ED25519-V3 gives a valid v3 address and the key to keep it', async () => {
    const service = await hostOnionService({ port: 8080, controlPort: tor.controlPort });
    try {
      assert.ok(isValidOnionAddress(service.address), service.address);
      assert.match(service.privateKey, /^ED25519-V3:[A-Za-z0-9+/]{86}==$/);
      assert.equal(service.virtualPort, 8080);
    } finally {
      await service.close();
    }
  });

  test('the stored key collides while its service lives, and hosts the same address again once it is closed', async () => {
    const first = await hostOnionService({ port: 8080, virtualPort: 80, controlPort: tor.controlPort });
    let second: Awaited<ReturnType<typeof hostOnionService>> | undefined;
    try {
      await rejectsWith(
        hostOnionService({ port: 8080, controlPort: tor.controlPort, privateKey: first.privateKey }),
        'ERR_TOR_CONTROL',
        /refused ADD_ONION: 550 Onion address collision/,
      );
      await first.close();
      second = await hostOnionService({ port: 9090, virtualPort: 443, controlPort: tor.controlPort, privateKey: first.privateKey });
      assert.equal(second.address, first.address);
      assert.equal(second.privateKey, first.privateKey);
      assert.equal(second.virtualPort, 443);
    } finally {
      await first.close();
      await second?.close();
    }
  });

  test('close() is idempotent', async () => {
    const service = await hostOnionService({ port: 8080, controlPort: tor.controlPort });
    const closing = service.close();
    assert.equal(service.close(), closing);
    await closing;
    await service.close();
  });

  test('DEL_ONION removes a service: gone from onions/current, and a second DEL_ONION fails', async () => {
    const control = await TorControl.connect({ port: tor.controlPort });
    try {
      const reply = await control.command('ADD_ONION NEW:ED25519-V3 Flags=DiscardPK Port=80,127.0.0.1:8080');
      const serviceId = reply.lines[0]?.text.replace(/^ServiceID=/, '') ?? '';
      assert.ok(isValidOnionAddress(`${serviceId}.onion`));
      assert.ok((await control.getInfo('onions/current')).split('\n').includes(serviceId));
      await control.command(`DEL_ONION ${serviceId}`);
      assert.ok(!(await control.getInfo('onions/current')).split('\n').includes(serviceId));
      await rejectsWith(control.command(`DEL_ONION ${serviceId}`), 'ERR_TOR_CONTROL', /552 Unknown Onion Service id/);
    } finally {
      await control.close();
    }
  });

  test('password and cookie-file authentication; a wrong password is ERR_TOR_CONTROL', async () => {
    const byPassword = await hostOnionService({ port: 8080, controlPort: tor.controlPort, password: tor.password });
    await byPassword.close();
    const byCookie = await hostOnionService({ port: 8080, controlPort: tor.controlPort, cookieFile: tor.cookieFile });
    await byCookie.close();
    await rejectsWith(hostOnionService({ port: 8080, controlPort: tor.controlPort, password: 'wrong' }), 'ERR_TOR_CONTROL', /515 Authentication failed/);
  });

  test('bad arguments are ERR_INVALID_ARGUMENT before the control port is contacted', async () => {
    const controlPort = await freePort();
    const bad: Array<Parameters<typeof hostOnionService>[0]> = [
      { port: 0, controlPort },
      { port: 8080, virtualPort: 65536, controlPort },
      { port: 8080, controlPort, privateKey: 'RSA1024:MIICXAIBAAKBgQC' },
      { port: 8080, controlPort, privateKey: 'ED25519-V3:c2hvcnQ=' },
      { port: 8080, controlPort, privateKey: `ED25519-V3:${randomBytes(64).toString('base64')} Port=22` },
    ];
    for (const options of bad) await rejectsWith(hostOnionService(options), 'ERR_INVALID_ARGUMENT');
  });
});
