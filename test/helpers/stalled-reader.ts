/**
 * Run as its own process by channel-send-queue.test.ts, which stops it with
 * SIGSTOP to play a client that stopped reading: connects, says `ready`,
 * then reads messages (each starting with its 4-byte index) until `end` and
 * answers with the indices it received, in order.
 *
 *   stalled-reader.ts <port> <server fingerprint>
 */

import { generateIdentity } from '../../src/keys/identity.ts';
import { connect } from '../../src/protocol/connect.ts';

const [port, fingerprint] = process.argv.slice(2) as [string, `SHA256:${string}`];
const channel = await connect({ port: Number(port), identity: await generateIdentity({ modulusLength: 2048 }), pin: fingerprint });
process.stdout.write('ready\n');
const received: number[] = [];
for await (const message of channel) {
  if (message.length === 3 && message.toString() === 'end') break;
  received.push(message.readUInt32BE(0));
}
await channel.send(JSON.stringify(received));
await channel.close();
