/**
 * Sending a folder: its tree is listed first (the folder itself, then each
 * entry depth-first in name order, every folder before what it holds) and
 * goes as one batch, so the receiver checks every name and every conflict
 * before it writes anything.
 *
 * Only regular files and folders are sent. Symbolic links inside the tree
 * are skipped, never followed, so a tree cannot leak files from outside it;
 * sockets, FIFOs and devices are skipped too. Both are reported in
 * `skipped`. The folder named by the caller may itself be a link.
 */

import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SecureChannel } from '../channel/secure-channel.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { ioError } from './file-io.ts';
import { MAX_ENTRIES } from './file-messages.ts';
import { checkRelativePath, displayName } from './file-names.ts';
import { type FileResult, type FileSendOptions, type Source, fileSource, sendBatch, statNamed } from './file-sender.ts';

export interface DirectoryResult {
  files: FileResult[];
  /** Entries not sent ('/'-separated, starting with the folder's name): symbolic links and special files. */
  skipped: string[];
}

/** Sends `dir` and everything under it; the receiver recreates it, by its base name, inside its target folder. */
export async function sendDirectory(channel: SecureChannel, dir: string, options: FileSendOptions = {}): Promise<DirectoryResult> {
  const { sources, skipped } = await listTree(resolve(dir));
  const files = await sendBatch(channel, sources, options);
  return { files, skipped };
}

/**
 * Sends files and folders as one batch, so the receiver sees one offer:
 * each file under its base name, each folder as its tree. Base names must differ.
 */
export async function sendPaths(channel: SecureChannel, paths: readonly string[], options: FileSendOptions = {}): Promise<DirectoryResult> {
  const sources: Source[] = [];
  const skipped: string[] = [];
  const names = new Set<string>();
  for (const path of paths) {
    const { name, stats } = await statNamed(path);
    if (names.has(name)) throw invalidArgument(`two of the paths are named ${displayName(name)}`);
    names.add(name);
    if (stats.isDirectory()) {
      const tree = await listTree(resolve(path));
      sources.push(...tree.sources);
      skipped.push(...tree.skipped);
    } else if (stats.isFile()) {
      sources.push(fileSource(resolve(path), [name], stats));
    } else {
      throw new NetcryptError(ErrorCode.FILE_IO, `${displayName(name)} is neither a file nor a folder`);
    }
    if (sources.length > MAX_ENTRIES) throw invalidArgument(`a transfer holds at most ${MAX_ENTRIES} entries`);
  }
  return { files: await sendBatch(channel, sources, options), skipped };
}

async function listTree(root: string): Promise<{ sources: Source[]; skipped: string[] }> {
  const { name, stats } = await statNamed(root);
  if (!stats.isDirectory()) throw new NetcryptError(ErrorCode.FILE_IO, `${displayName(name)} is not a folder`);
  const tree = { sources: [{ entry: { type: 'dir', path: [name], mode: stats.mode & 0o7777 } }] as Source[], skipped: [] as string[] };
  await listFolder(root, [name], tree);
  return tree;
}

async function listFolder(dir: string, prefix: string[], tree: { sources: Source[]; skipped: string[] }): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    throw ioError(error, `list ${displayName(prefix.join('/'))}`);
  }
  for (const name of names) {
    const components = [...prefix, name];
    const path = join(dir, name);
    let stats: Stats;
    try {
      stats = await lstat(path);
    } catch (error) {
      throw ioError(error, `read ${displayName(components.join('/'))}`);
    }
    if (!stats.isFile() && !stats.isDirectory()) {
      tree.skipped.push(components.join('/'));
      continue;
    }
    checkRelativePath(components);
    if (tree.sources.length >= MAX_ENTRIES) throw invalidArgument(`a folder transfer holds at most ${MAX_ENTRIES} entries`);
    if (stats.isFile()) {
      tree.sources.push(fileSource(path, components, stats));
    } else {
      tree.sources.push({ entry: { type: 'dir', path: components, mode: stats.mode & 0o7777 } });
      await listFolder(path, components, tree);
    }
  }
}
