/** send / receive with --onion and --tor, against a real tor (kept off the network) and a real SOCKS5 server (microsocks). */

import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isValidOnionAddress } from '../src/tor/onion-address.ts';
import { cliWorkspace, runCli } from './helpers/cli.ts';
import { type Microsocks, type TorDaemon, freePort, startMicrosocks, startTor } from './helpers/tor-daemons.ts';

const { dir, home, keys } = await cliWorkspace();
const [alice, bob] = keys;

describe('netcrypt send / receive through Tor', () => {
  let tor: TorDaemon;
  let socks: Microsocks;
  before(async () => {
    [tor, socks] = await Promise.all([startTor(), startMicrosocks()]);
  });
  after(() => Promise.all([tor?.stop(), socks?.stop()]));

  it('receive --listen --onion publishes an onion service through the control port and prints its address', async () => {
    const receiver = runCli(['receive', '--listen', '--onion', '--control-port', String(tor.controlPort), '--dir', dir, '--key', alice, '--yes', '--json'], { home });
    const listening = await receiver.nextEvent('listening');
    assert.equal(listening.onion, true);
    assert.equal(listening.port, 4000);
    assert.ok(isValidOnionAddress(listening.host as string), String(listening.host));
    receiver.child.kill('SIGINT');
    assert.equal(await receiver.exited, 130);
  });

  it('send --tor-proxy dials through the SOCKS5 proxy, which makes the connection', async () => {
    const [src, dst] = [join(dir, 'tor-src'), join(dir, 'tor-dst')];
    await mkdir(src);
    await mkdir(dst);
    await writeFile(join(src, 'via-socks.txt'), 'through the proxy');
    const receiver = runCli(['receive', '--listen', '0', '--dir', dst, '--key', alice, '--yes', '--json'], { home });
    const { port } = await receiver.nextEvent('listening');
    const sender = runCli(['send', join(src, 'via-socks.txt'), '--to', `127.0.0.1:${port}`, '--tor-proxy', `127.0.0.1:${socks.port}`, '--key', bob, '--json'], { home });
    assert.equal(await sender.exited, 0, sender.text());
    assert.equal(await receiver.exited, 0, receiver.text());
    assert.equal(await readFile(join(dst, 'via-socks.txt'), 'utf8'), 'through the proxy');
  });

  it('a Tor proxy that is not there exits 6 with ERR_TOR_PROXY_UNREACHABLE', async () => {
    const nowhere = await freePort();
    const sender = runCli(['send', join(dir, 'tor-src', 'via-socks.txt'), '--to', 'example.onion:4000', '--tor-proxy', `127.0.0.1:${nowhere}`, '--key', bob], { home });
    assert.equal(await sender.exited, 6, sender.text());
    assert.match(sender.text(), /^netcrypt: .*\(ERR_TOR_PROXY_UNREACHABLE\)$/m);
  });
});
