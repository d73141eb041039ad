/**
 * `netcrypt listen <port>` and `netcrypt connect <host:port>`: an encrypted,
 * binary-safe pipe between stdin/stdout and the peer, like `ncat --ssl`.
 *
 * On the channel each message is a piece of the byte stream, and an empty
 * message ends that direction (stdin reached its end): the other direction
 * goes on until the peer sends its own empty message, and then both ends
 * close the channel with the authenticated close. A connection cut before
 * both ends have said so is ERR_TRUNCATED, never a clean end of the data.
 */

import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { type Channel, ErrorCode, NetcryptError } from '../index.ts';
import { type Address, parseAddress, parsePort } from './address.ts';
import { runCommand } from './exit-codes.ts';
import { type NetworkOptions, acceptOne, dialPeer, loadIdentityFor, networkOptions, reportPeer } from './peer.ts';
import { Reporter } from './report.ts';

const END_OF_STREAM = new Uint8Array(0);

export function registerPipeCommands(program: Command): void {
  networkOptions(
    program
      .command('listen')
      .description('wait for one peer on <port>, then pipe stdin to it and what it sends to stdout')
      .argument('<port>', 'port to listen on (0: any free port, printed)', parsePort),
    { dials: false, listens: true },
  ).action(
    runCommand(async (port: number, options: NetworkOptions) => {
      const report = new Reporter(options, process.stderr);
      const identity = await loadIdentityFor(options, report);
      if (!options.pin?.length) report.say('any key may connect: pass --pin to accept only the peer you expect');
      await pipe(await acceptOne(port, identity, options, report), report);
    }, { events: process.stderr }),
  );

  networkOptions(
    program
      .command('connect')
      .description('dial <host:port>, then pipe stdin to it and what it sends to stdout')
      .argument('<host:port>', 'where a `netcrypt listen` waits', parseAddress),
    { dials: true, listens: false },
  ).action(
    runCommand(async (address: Address, options: NetworkOptions) => {
      const report = new Reporter(options, process.stderr);
      const identity = await loadIdentityFor(options, report);
      await pipe(await dialPeer(address, identity, options, report), report);
    }, { events: process.stderr }),
  );
}

async function pipe(channel: Channel, report: Reporter, input: Readable = process.stdin, output: Writable = process.stdout): Promise<void> {
  reportPeer(channel, report);
  // A person at a terminal has nothing the peer still waits for once the peer is done: end our side too.
  const stopInput = new AbortController();
  const [sent, received] = await Promise.all([
    sendInput(channel, input, stopInput.signal, report),
    receiveOutput(channel, output, report).finally(() => {
      if ((input as { isTTY?: boolean }).isTTY) stopInput.abort();
    }),
  ]);
  await channel.close();
  report.event('closed', { sent, received });
}

/** Sends stdin, then the empty message that ends this direction. Resolves with the bytes sent. */
async function sendInput(channel: Channel, input: Readable, stop: AbortSignal, report: Reporter): Promise<number> {
  let sent = 0;
  const chunks = input.iterator({ destroyOnReturn: false });
  const stopped = new Promise<void>((resolve) => stop.addEventListener('abort', () => resolve(), { once: true }));
  for (;;) {
    const next = await Promise.race([chunks.next(), stopped.then(() => undefined)]);
    if (!next || next.done) break;
    const chunk = next.value as Buffer;
    await channel.send(chunk);
    sent += chunk.length;
  }
  input.pause();
  await channel.send(END_OF_STREAM);
  report.event('input-ended', { bytes: sent });
  return sent;
}

/** Writes what the peer sends to stdout until its empty message. Resolves with the bytes received. */
async function receiveOutput(channel: Channel, output: Writable, report: Reporter): Promise<number> {
  let received = 0;
  const failed = new Promise<never>((_, reject) => output.once('error', reject));
  failed.catch(() => {});
  for await (const message of channel) {
    if (message.length === 0) {
      report.event('output-ended', { bytes: received });
      return received;
    }
    received += message.length;
    if (!output.write(message)) await Promise.race([new Promise((resolve) => output.once('drain', resolve)), failed]);
  }
  throw new NetcryptError(ErrorCode.TRUNCATED, 'the peer closed without ending its data');
}
