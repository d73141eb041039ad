/**
 * Run as its own process by channel-delivered.test.ts: one side of a
 * conversation that exits the moment its last call resolves — as scripts do —
 * so the other process sees whether "resolved" meant "on the wire".
 *
 *   close <port> <fingerprint>   connect, read until the peer's close, close(), exit
 *   seed-send <port>             seed client: exchange, receive, send a reply, exit
 *   seed-close <port>            seed client: exchange, receive, close(socket), exit
 */

import net from 'node:net';
import { connect } from '../../src/protocol/connect.ts';
import { ClientProtocol } from '../../src/protocol/seed-protocol.ts';
import { testIdentities } from './identities.ts';

const [mode, port, fingerprint] = process.argv.slice(2) as [string, string, string];
const [, clientId] = await testIdentities();

if (mode === 'close') {
  const channel = await connect({ port: Number(port), identity: clientId, pin: fingerprint });
  let received = 0;
  for await (const _ of channel) received++;
  await channel.close();
  process.stdout.write(JSON.stringify({ received }));
  process.exit(0);
}

const sock = net.connect(Number(port), '127.0.0.1');
await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
const client = new ClientProtocol({ keyPair: clientId });
client.setPublicKey(await client.publicKeyExchange(sock));
const welcome = (await client.recvCryptoStream(sock)).toString();
if (mode === 'seed-send') await client.sendCryptoStream(sock, `reply to ${welcome}`);
else await client.close(sock);
process.exit(0);
