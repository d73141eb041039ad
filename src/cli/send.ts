/**
 * `netcrypt send <file|folder>…`: one transfer to a receiver that either
 * listens (`--to host:port`) or dials this side (`--listen [port]`). A
 * listening sender hands its files to whoever connects only if that key is
 * pinned, confirmed at the terminal, or `--yes` says any key will do.
 */

import type { Command } from 'commander';
import { type Channel, sendPaths } from '../index.ts';
import { type Address, parseAddress } from './address.ts';
import { invalidUsage, refused, runCommand } from './exit-codes.ts';
import { type NetworkOptions, checkTorOptions, loadIdentityFor, networkOptions, reportPeer } from './peer.ts';
import { ProgressDisplay } from './progress.ts';
import { askYesNo, canAsk } from './prompt.ts';
import { Reporter } from './report.ts';
import { checkOneSide, listenOption, openTransferChannel, reportFiles } from './transfer.ts';

interface SendOptions extends NetworkOptions {
  to?: Address;
  listen?: number | boolean;
  yes?: boolean;
}

export function registerSendCommand(program: Command): void {
  networkOptions(
    program
      .command('send')
      .description('send files and folders to a `netcrypt receive`')
      .argument('<paths...>', 'files and folders to send (folders with everything in them)')
      .option('--to <host:port>', 'dial the receiver, which runs `netcrypt receive --listen`', parseAddress)
      .addOption(listenOption())
      .option('-y, --yes', 'when listening, send to any key that connects without asking'),
    { dials: true, listens: true },
  ).action(
    runCommand(async (paths: string[], options: SendOptions) => {
      checkOneSide('--to', options.to, options.listen);
      checkTorOptions(options.to !== undefined, options);
      const listening = options.to === undefined;
      if (listening && !options.pin?.length && !options.yes && !canAsk()) {
        throw invalidUsage('a listening sender needs --pin SHA256:… (the receiver\'s key) or --yes: there is no terminal to ask');
      }
      const report = new Reporter(options);
      const identity = await loadIdentityFor(options, report);
      const channel = await openTransferChannel(options.to, options.listen, identity, options, report);
      try {
        reportPeer(channel, report);
        if (listening && !options.pin?.length && !options.yes) await confirmReceiver(channel);
        await send(channel, paths, report);
        await channel.close();
      } finally {
        channel.destroy();
      }
    }),
  );
}

async function confirmReceiver(channel: Channel): Promise<void> {
  if (!(await askYesNo(`Send to ${channel.peerFingerprint} (code ${channel.verificationCode})?`))) {
    throw refused(`you did not accept ${channel.peerFingerprint}`);
  }
}

/** A person at the receiver's terminal reads the offer before answering: give them minutes, not the library's 60 s. */
const ANSWER_TIMEOUT_MS = 5 * 60_000;

async function send(channel: Channel, paths: string[], report: Reporter): Promise<void> {
  const progress = new ProgressDisplay(report);
  try {
    const { files, skipped } = await sendPaths(channel, paths, { onProgress: (p) => progress.update(p), timeoutMs: ANSWER_TIMEOUT_MS });
    progress.stop();
    for (const entry of skipped) {
      report.say(`skipped ${entry} (a link or special file)`);
      report.event('skipped', { name: entry });
    }
    reportFiles('sent', files, report);
  } finally {
    progress.stop();
  }
}
