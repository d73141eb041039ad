/**
 * What `send` and `receive` share: which side listens and which dials, and
 * the summary of a finished transfer.
 */

import { Option } from 'commander';
import type { Channel, FileResult, Identity } from '../index.ts';
import { type Address, parsePort } from './address.ts';
import { invalidUsage } from './exit-codes.ts';
import { type NetworkOptions, acceptOne, dialPeer } from './peer.ts';
import { type Reporter, formatBytes } from './report.ts';

export const DEFAULT_PORT = 4000;

export function listenOption(): Option {
  return new Option('--listen [port]', `wait for the other side to dial this machine (default port ${DEFAULT_PORT}; 0: any free port)`).argParser(parsePort);
}

/** The one channel of a transfer: dialled if `address` is given, else listened for. */
export function openTransferChannel(
  address: Address | undefined,
  listen: number | boolean | undefined,
  identity: Identity,
  options: NetworkOptions,
  report: Reporter,
): Promise<Channel> {
  if (address) return dialPeer(address, identity, options, report);
  return acceptOne(typeof listen === 'number' ? listen : DEFAULT_PORT, identity, options, report);
}

/** Exactly one of dialling and listening. */
export function checkOneSide(dialOption: string, address: Address | undefined, listen: number | boolean | undefined): void {
  if (address && listen !== undefined) throw invalidUsage(`pass either ${dialOption} or --listen, not both`);
  if (!address && listen === undefined) throw invalidUsage(`say how to reach the other side: ${dialOption} host:port, or --listen [port] to wait for it`);
}

export function reportFiles(verb: 'sent' | 'received', files: FileResult[], report: Reporter): void {
  const bytes = files.reduce((sum, file) => sum + file.size, 0);
  const resumed = files.reduce((sum, file) => sum + file.resumedFrom, 0);
  for (const file of files) report.event('file', { name: file.name, path: file.path, size: file.size, sha256: file.sha256, resumedFrom: file.resumedFrom });
  const resumedNote = resumed > 0 ? `, ${formatBytes(resumed)} of it kept from an earlier attempt` : '';
  report.say(`${verb} ${files.length} file${files.length === 1 ? '' : 's'} (${formatBytes(bytes)})${resumedNote}, SHA-256 verified`);
  report.event('done', { files: files.length, bytes, resumedBytes: resumed });
}
