/** A whole netcrypt session through microsocks, a real SOCKS5 server, by host name. */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import dns from 'node:dns';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { after, describe, it, mock } from 'node:test';
import { receiveFile, sendFile } from '../src/files/index.ts';
import { connect } from '../src/protocol/connect.ts';
import { createServer } from '../src/protocol/server.ts';
import { ClientProtocol, ServerProtocol } from '../src/protocol/seed-protocol.ts';
import { testIdentities } from './helpers/identities.ts';
import { listen } from './helpers/net.ts';
import { startMicrosocks } from './helpers/tor-daemons.ts';

const [serverId, clientId] = await testIdentities();
const credentials = { username: 'alice', password: 'wonderland' };

describe('netcrypt through a SOCKS5 proxy', async () => {
  const proxy = await startMicrosocks(credentials);
  after(() => proxy.stop());

  it('connect({ tor }) runs handshake, messages and a file, with the name resolved by the proxy only', async () => {
    const work = await mkdtemp(join(tmpdir(), 'netcrypt-socks-'));
    const inbox = await mkdtemp(join(tmpdir(), 'netcrypt-socks-inbox-'));
    after(() => Promise.all([rm(work, { recursive: true, force: true }), rm(inbox, { recursive: true, force: true })]));
    const server = createServer({ identity: serverId }, async (channel) => {
      for await (const message of channel) {
        if (message.toString() === 'file') await receiveFile(channel, { dir: inbox });
        await channel.send(Buffer.concat([Buffer.from('echo: '), message]));
      }
    });
    const port = await listen(server);
    after(() => server.close());
    const lookups = mock.method(dns, 'lookup');
    try {
      const channel = await connect({
        host: 'localhost',
        port,
        identity: clientId,
        pin: serverId!.fingerprint,
        tor: { proxy: { port: proxy.port, ...credentials } },
      });
      await channel.send('over socks');
      assert.equal((await channel.receive()).toString(), 'echo: over socks');
      const big = Buffer.alloc(3 << 20, 0x5a);
      await channel.send(big);
      assert.equal((await channel.receive()).length, big.length + 6);
      const source = join(work, 'through-socks.bin');
      const content = randomBytes(5 << 20);
      await writeFile(source, content);
      await channel.send('file');
      const sent = await sendFile(channel, source);
      assert.equal((await channel.receive()).toString(), 'echo: file');
      assert.equal(sent.sha256, createHash('sha256').update(content).digest('hex'));
      assert.deepEqual(await readFile(join(inbox, 'through-socks.bin')), content);
      await channel.close();
      assert.equal(lookups.mock.callCount(), 0, 'no local DNS lookup: the proxy got the domain name');
    } finally {
      lookups.mock.restore();
    }
  });

  it('the seed API: enableTor().connect() gives a socket for publicKeyExchange and messages', async () => {
    const server = net.createServer(async (conn) => {
      const protocol = new ServerProtocol({ keyPair: serverId });
      protocol.setPublicKey(await protocol.publicKeyExchange(conn));
      await protocol.sendCryptoStream(conn, 'Welcome to the server');
      await protocol.sendCryptoStream(conn, await protocol.recvCryptoStream(conn));
    });
    const port = await listen(server);
    after(() => server.close());
    const client = new ClientProtocol({ keyPair: clientId });
    const sock = await client.enableTor({ proxy: { port: proxy.port, ...credentials } }).connect(port, 'localhost');
    const serverKey = await client.publicKeyExchange(sock);
    assert.equal(serverKey, await new ServerProtocol({ keyPair: serverId }).publicKey());
    client.setPublicKey(serverKey);
    assert.equal((await client.recvCryptoStream(sock)).toString(), 'Welcome to the server');
    await client.sendCryptoStream(sock, 'Thanks for having me');
    assert.equal((await client.recvCryptoStream(sock)).toString(), 'Thanks for having me');
    sock.destroy();
  });

  it('a wrong proxy password surfaces as ERR_TOR_PROXY_AUTH from connect()', async () => {
    await assert.rejects(
      connect({ host: 'localhost', port: 9, identity: clientId, tor: { proxy: { port: proxy.port, username: 'alice', password: 'nope' } }, trust: 'any' }),
      { code: 'ERR_TOR_PROXY_AUTH' },
    );
  });
});
