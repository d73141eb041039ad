/**
 * A receiving process that exits the moment its call resolves, as the seed
 * API's client example does: whatever its call acknowledged must already be
 * on the wire, or the sender never hears of it.
 *
 *   node --import tsx files-exit-receiver.ts <receiveFile|receiveFiles|recvFile> <port> <dir> <server fingerprint>
 *
 * Prints the call's result as JSON on stdout, then exits with status 0.
 */

import net from 'node:net';
import { receiveFile, receiveFiles } from '../../src/files/index.ts';
import { generateIdentity } from '../../src/keys/identity.ts';
import { connect } from '../../src/protocol/connect.ts';
import { ClientProtocol } from '../../src/protocol/seed-protocol.ts';

const [mode, port, dir, pin] = process.argv.slice(2) as [string, string, string, string];

async function receive(): Promise<unknown> {
  if (mode === 'recvFile') {
    const protocol = new ClientProtocol({ keySize: 2048 });
    const socket = net.connect(Number(port), '127.0.0.1');
    await protocol.publicKeyExchange(socket);
    return protocol.recvFile(socket, dir);
  }
  const channel = await connect({ port: Number(port), pin, identity: await generateIdentity({ modulusLength: 2048 }), backend: 'native' });
  return mode === 'receiveFiles' ? receiveFiles(channel, { dir }) : receiveFile(channel, { dir });
}

const result = await receive();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
