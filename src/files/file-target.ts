/**
 * The receiving side's file system work. Before anything is written, every
 * entry of a batch is planned: its name checked, its path confined under the
 * target folder, its parent declared as a folder earlier in the batch, and
 * what exists there looked at with lstat (a symbolic link is never followed:
 * where the batch needs a folder, a link is a conflict). Content goes to a
 * hidden partial file beside the final name, opened with O_NOFOLLOW; once
 * verified it gets its mode and mtime, is synced, and is moved into place:
 * with link(2), which refuses an existing name atomically, or with rename(2)
 * when overwriting was asked for. Nothing incomplete ever has the final name.
 */

import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, chmod, link, lstat, mkdir, open, realpath, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, NetcryptError } from '../errors.ts';
import { ioError } from './file-io.ts';
import type { DirectoryEntry, Entry, FileEntry } from './file-messages.ts';
import { checkRelativePath, confinedPath, displayName, partialName } from './file-names.ts';

export interface FileTarget {
  entry: FileEntry;
  /** The '/'-separated name as the sender gave it. */
  name: string;
  path: string;
  partialPath: string;
  /**
   * A file of the announced size and mtime is already there (say, from an
   * interrupted run of the same batch): it is offered to the sender whole,
   * and kept untouched if the sender's file has the same content.
   */
  present: boolean;
}

export interface DirectoryTarget {
  entry: DirectoryEntry;
  name: string;
  path: string;
  /** False when the folder already exists and is merged into. */
  create: boolean;
}

/** A created folder's mode until its files are in: the sender's, plus the owner's rwx so they can be written. */
function buildingMode(entry: DirectoryEntry): number {
  return (entry.mode | 0o700) & 0o777;
}

/** Ours, alone, regular: the only kind of file the receiver reads, resumes or keeps. */
function ownLoneFile(stats: Stats): boolean {
  return stats.isFile() && stats.nlink === 1 && (!process.getuid || stats.uid === process.getuid());
}

export type Target = FileTarget | DirectoryTarget;

function exists(name: string, what: string): NetcryptError {
  return new NetcryptError(ErrorCode.FILE_EXISTS, `${displayName(name)} already exists${what}`);
}

function malformed(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, `file transfer: ${message}`);
}

async function lstatIfAny(path: string, name: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(error, `inspect ${displayName(name)}`);
  }
}

/** Plans every entry of a batch against `dir`; throws before anything is written if one cannot land safely. */
export async function planTargets(dir: string, entries: Entry[], overwrite: boolean, peer: string): Promise<Target[]> {
  let root: string;
  let rootStats: Stats;
  try {
    root = await realpath(dir);
    rootStats = await stat(root);
  } catch (error) {
    throw ioError(error, 'use the target folder');
  }
  if (!rootStats.isDirectory()) throw new NetcryptError(ErrorCode.FILE_IO, 'cannot use the target folder: not a folder');
  const declared = new Map<string, Entry['type']>();
  const targets: Target[] = [];
  for (const entry of entries) {
    const name = checkRelativePath(entry.path);
    if (declared.has(name)) throw malformed(`${displayName(name)} is listed twice`);
    if (entry.path.length > 1 && declared.get(entry.path.slice(0, -1).join('/')) !== 'dir') {
      throw malformed(`${displayName(name)} is listed before its folder`);
    }
    declared.set(name, entry.type);
    const path = confinedPath(root, entry.path);
    const existing = await lstatIfAny(path, name);
    if (entry.type === 'dir') {
      if (existing && !existing.isDirectory()) throw exists(name, ' and is not a folder (symbolic links are never followed)');
      targets.push({ entry, name, path, create: !existing });
    } else {
      // The mtime is compared as the receiver set it (ms, rounded: utimes takes seconds as a float).
      const present = existing !== undefined && ownLoneFile(existing) && existing.size === entry.size && Math.round(existing.mtimeMs) === entry.mtime;
      if (existing && !overwrite && !present) throw exists(name, '');
      if (existing?.isDirectory()) throw exists(name, ' as a folder');
      const partial = partialName(entry.path.at(-1)!, { peer, size: entry.size, mtime: entry.mtime });
      targets.push({ entry, name, path, partialPath: join(dirname(path), partial), present });
    }
  }
  return targets;
}

/** Creates the batch's new folders, writable by their owner until their files are in. */
export async function createDirectories(targets: Target[]): Promise<void> {
  for (const target of targets) {
    if (!('create' in target) || !target.create) continue;
    try {
      await mkdir(target.path, { mode: 0o700 });
      await chmod(target.path, buildingMode(target.entry));
    } catch (error) {
      throw ioError(error, `create folder ${displayName(target.name)}`);
    }
  }
}

/**
 * Gives folders their final mode, deepest first: a read-only folder would
 * have refused its files. That is the folders this batch created, and those
 * an interrupted run of it created and left in their building mode (ours,
 * and exactly that mode), so a resumed batch ends with the modes it would
 * have had. Any other existing folder is merged into and left as it is.
 */
export async function finishDirectories(targets: Target[]): Promise<void> {
  for (const target of [...targets].reverse()) {
    if (!('create' in target)) continue;
    const { entry } = target;
    const mode = entry.mode & 0o777;
    try {
      if (!target.create) {
        const stats = await lstat(target.path);
        const leftBuilding = stats.isDirectory() && (!process.getuid || stats.uid === process.getuid()) && (stats.mode & 0o777) === buildingMode(entry);
        if (!leftBuilding || buildingMode(entry) === mode) continue;
      }
      await chmod(target.path, mode);
    } catch (error) {
      throw ioError(error, `set the mode of ${displayName(target.name)}`);
    }
  }
}

/**
 * Final names being received by this process. Two transfers of one name
 * into one folder at once would race for it; the second is refused instead.
 */
const claimed = new Set<string>();

/** An open partial file, and the inode it was when opened. */
export interface OpenPartial {
  handle: FileHandle;
  length: number;
  ino: number;
}

function untrusted(target: FileTarget, why: string): NetcryptError {
  return new NetcryptError(ErrorCode.FILE_IO, `the partial file of ${displayName(target.name)} ${why}: it is neither resumed nor touched`);
}

/** Claims the final name for this transfer until releaseTarget(); a second transfer to it is ERR_FILE_EXISTS. */
export function claimTarget(target: FileTarget): void {
  if (claimed.has(target.path)) throw exists(target.name, ' as a transfer in progress');
  claimed.add(target.path);
}

export function releaseTarget(target: FileTarget): void {
  claimed.delete(target.path);
}

/**
 * Opens the partial file left by an earlier attempt, or creates it (0600,
 * O_EXCL). Only a regular file with one link, owned by this process's user,
 * is resumed: a hard link planted there would otherwise let the peer learn,
 * overwrite and chmod the file it points to. O_NOFOLLOW refuses a planted
 * symbolic link; O_NONBLOCK keeps a planted FIFO from hanging the open.
 */
export async function openPartial(target: FileTarget): Promise<OpenPartial> {
  let handle: FileHandle | undefined;
  try {
    handle = await openIfAny(target.partialPath, constants.O_RDWR);
    handle ??= await open(target.partialPath, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    const stats = await handle.stat();
    if (!stats.isFile()) throw untrusted(target, 'is not a regular file');
    if (stats.nlink !== 1) throw untrusted(target, 'has other links');
    if (!ownLoneFile(stats)) throw untrusted(target, 'belongs to another user');
    return { handle, length: stats.size, ino: stats.ino };
  } catch (error) {
    await handle?.close();
    throw ioError(error, `write ${displayName(target.name)}`);
  }
}

/** Opens, read-only, the file already under the final name, if it is still one the receiver may offer (see FileTarget.present). */
export async function openPresent(target: FileTarget): Promise<OpenPartial | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await openIfAny(target.path, constants.O_RDONLY);
    const stats = await handle?.stat();
    if (!handle || !stats || !ownLoneFile(stats) || stats.size !== target.entry.size) {
      await handle?.close();
      return undefined;
    }
    return { handle, length: stats.size, ino: stats.ino };
  } catch (error) {
    await handle?.close();
    throw ioError(error, `read ${displayName(target.name)}`);
  }
}

async function openIfAny(path: string, access: number): Promise<FileHandle | undefined> {
  try {
    return await open(path, access | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function writeAt(handle: FileHandle, data: Buffer, position: number, target: FileTarget): Promise<void> {
  try {
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  } catch (error) {
    throw ioError(error, `write ${displayName(target.name)}`);
  }
}

/** Applies mode and mtime, syncs, closes, and moves the verified partial file to its final name. */
export async function commitPartial(partial: OpenPartial, target: FileTarget, overwrite: boolean): Promise<void> {
  const { entry, name } = target;
  const { handle } = partial;
  try {
    // Still the file opened, with no other name: chmod must never reach a file linked in meanwhile.
    const stats = await handle.stat();
    if (stats.ino !== partial.ino || stats.nlink !== 1) throw untrusted(target, 'was linked elsewhere during the transfer');
    // Only permission bits: setuid, setgid and sticky from a peer are never applied.
    await handle.chmod(entry.mode & 0o777);
    await handle.utimes(Date.now() / 1000, entry.mtime / 1000);
    await handle.sync();
    await handle.close();
    if (overwrite) {
      await rename(target.partialPath, target.path);
    } else {
      await link(target.partialPath, target.path);
      await unlink(target.partialPath);
    }
    await syncFolder(dirname(target.path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw exists(name, ' (it appeared during the transfer)');
    throw ioError(error, `save ${displayName(name)}`);
  }
}

/** Makes the rename durable. Windows cannot open a folder; NTFS journals the rename itself. */
async function syncFolder(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const folder = await open(path, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

export async function removePartial(target: FileTarget): Promise<void> {
  await unlink(target.partialPath).catch(() => {});
}
