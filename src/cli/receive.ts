/**
 * `netcrypt receive`: takes one transfer (or, with `--listen --keep`, one
 * after another) into `--dir`. Nothing is written that was not agreed to:
 * the offer (names, count, total size) is shown with the sender's key and
 * the code, and at a terminal the person is asked; without one, `--pin`
 * (only that sender) or `--yes` (any sender) must have said so beforehand.
 * Names are checked by the library before the question: nothing outside
 * `--dir` can be offered, let alone written.
 */

import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { type Channel, ErrorCode, type FileOffer, type Identity, NetcryptError, receiveFiles } from '../index.ts';
import { type Address, parseAddress } from './address.ts';
import { failureLine, invalidUsage, runCommand } from './exit-codes.ts';
import { type NetworkOptions, checkTorOptions, dialPeer, listenForPeers, loadIdentityFor, networkOptions, reportPeer } from './peer.ts';
import { ProgressDisplay } from './progress.ts';
import { askYesNo, canAsk } from './prompt.ts';
import { Reporter, formatBytes } from './report.ts';
import { DEFAULT_PORT, checkOneSide, listenOption, openTransferChannel, reportFiles } from './transfer.ts';

interface ReceiveOptions extends NetworkOptions {
  from?: Address;
  listen?: number | boolean;
  dir: string;
  overwrite?: boolean;
  yes?: boolean;
  keep?: boolean;
}

export function registerReceiveCommand(program: Command): void {
  networkOptions(
    program
      .command('receive')
      .description('receive files and folders from a `netcrypt send`')
      .option('--from <host:port>', 'dial the sender, which runs `netcrypt send --listen`', parseAddress)
      .addOption(listenOption())
      .option('--dir <folder>', 'where to save (it must exist)', '.')
      .option('--overwrite', 'replace files that exist (default: refuse the transfer before writing anything)')
      .option('-y, --yes', 'accept the offer without asking')
      .option('--keep', 'with --listen: stay and take more transfers, one after another'),
    { dials: true, listens: true },
  ).action(
    runCommand(async (options: ReceiveOptions) => {
      checkOneSide('--from', options.from, options.listen);
      checkTorOptions(options.from !== undefined, options);
      if (options.keep && options.from) throw invalidUsage('--keep is for a listening receiver (--listen)');
      if (!options.pin?.length && !options.yes && !canAsk()) {
        throw invalidUsage('without a terminal to ask, receive needs --pin SHA256:… (the sender\'s key) or --yes');
      }
      await checkFolder(options.dir);
      const report = new Reporter(options);
      const identity = await loadIdentityFor(options, report);
      if (options.keep) return keepReceiving(identity, options, report);
      const channel = await openTransferChannel(options.from, options.listen, identity, options, report);
      try {
        await receiveOne(channel, options, report);
      } finally {
        channel.destroy();
      }
    }),
  );
}

/** How long a connected sender has to make its offer: a silent one must not hold the receiver (or a --keep queue) forever. */
const OFFER_TIMEOUT_MS = 60_000;

/** One transfer on `channel`, then the authenticated close. */
async function receiveOne(channel: Channel, options: ReceiveOptions, report: Reporter): Promise<void> {
  reportPeer(channel, report);
  const progress = new ProgressDisplay(report);
  const noOffer = new AbortController();
  const offerTimer = setTimeout(() => noOffer.abort(), OFFER_TIMEOUT_MS);
  try {
    const files = await receiveFiles(channel, {
      dir: options.dir,
      overwrite: options.overwrite,
      signal: noOffer.signal,
      onProgress: (p) => progress.update(p),
      onOffer: (offer) => {
        clearTimeout(offerTimer);
        return decide(offer, channel, options, report);
      },
    });
    progress.stop();
    reportFiles('received', files, report);
  } catch (error) {
    if (noOffer.signal.aborted) throw new NetcryptError(ErrorCode.TIMEOUT, `the sender made no offer within ${OFFER_TIMEOUT_MS / 1000} s`);
    throw error;
  } finally {
    clearTimeout(offerTimer);
    progress.stop();
  }
  await channel.close();
}

/** The folder is checked before anyone connects, so a typo is found before the sender has waited. */
async function checkFolder(dir: string): Promise<void> {
  let isFolder: boolean;
  try {
    isFolder = (await stat(dir)).isDirectory();
  } catch (cause) {
    throw new NetcryptError(ErrorCode.FILE_IO, `cannot use --dir ${dir}: ${(cause as Error).message}`, { cause });
  }
  if (!isFolder) throw new NetcryptError(ErrorCode.FILE_IO, `--dir ${dir} is not a folder`);
}

async function decide(offer: FileOffer, channel: Channel, options: ReceiveOptions, report: Reporter): Promise<boolean> {
  report.event('offer', { files: offer.files, folders: offer.folders, count: offer.count, total: offer.total });
  const summary = describeOffer(offer);
  if (options.yes || (options.pin?.length && !canAsk())) {
    report.say(`receiving ${summary}`);
    return true;
  }
  for (const file of offer.files.slice(0, 10)) report.say(`  ${file.name} (${formatBytes(file.size)})`);
  if (offer.files.length > 10) report.say(`  … and ${offer.files.length - 10} more`);
  const accepted = await askYesNo(`Receive ${summary} from ${channel.peerFingerprint} (code ${channel.verificationCode})?`);
  report.event(accepted ? 'accepted' : 'declined');
  return accepted;
}

/** "3 files in 1 folder (5.0 MB)", "report.pdf (1.2 MB)". */
export function describeOffer(offer: FileOffer): string {
  const size = formatBytes(offer.total);
  if (offer.count === 1 && offer.folders.length === 0) return `${offer.files[0]!.name} (${size})`;
  const folders = offer.folders.length > 0 ? ` in ${offer.folders.length} folder${offer.folders.length === 1 ? '' : 's'}` : '';
  return `${offer.count} file${offer.count === 1 ? '' : 's'}${folders} (${size})`;
}

/** --listen --keep: every sender that connects is served in turn; a failed transfer is reported and the next one awaited. */
async function keepReceiving(identity: Identity, options: ReceiveOptions, report: Reporter): Promise<void> {
  let queue = Promise.resolve();
  await listenForPeers(typeof options.listen === 'number' ? options.listen : DEFAULT_PORT, identity, options, report, (channel) => {
    queue = queue.then(() =>
      receiveOne(channel, options, report).catch((error: unknown) => {
        channel.destroy();
        process.stderr.write(`${failureLine(error)}\n`);
      }),
    );
  });
  await new Promise<never>(() => {});
}
