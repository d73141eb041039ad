/**
 * Run as its own process by channel-api.test.ts: a 'message' listener that
 * throws must surface as an uncaught exception — as any Node listener's
 * would — and must not be blamed on the peer or end the channel. Prints what
 * it saw as JSON.
 */

import { connect } from '../../src/protocol/connect.ts';
import { createServer } from '../../src/protocol/server.ts';
import { testIdentities } from './identities.ts';
import { listen } from './net.ts';

const [serverId, clientId] = await testIdentities();
const server = createServer({ identity: serverId }, async (channel) => {
  for await (const message of channel) await channel.send(message);
  await channel.close();
});
const channel = await connect({ port: await listen(server), identity: clientId, trust: 'any' });

const uncaught = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
channel.once('message', () => {
  throw new Error('bug in the listener');
});
await channel.send('first');
const error = (await uncaught) as Error;
// No listener now: the next echo queues for receive().
await channel.send('second');
const second = (await channel.receive()).toString();
await channel.close();
server.close();
process.stdout.write(JSON.stringify({ uncaught: error.message, code: (error as { code?: string }).code ?? null, second }));
