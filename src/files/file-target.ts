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
 *
 * Every operation reaches its entry through folders opened one by one with
 * O_NOFOLLOW|O_DIRECTORY, never by re-resolving a path: another user who
 * can rename in the target folder could otherwise swap a planned subfolder
 * for a link between the check and the write, and have the peer's file
 * written, or a folder chmod-ed, outside `dir`. On Linux the next name is
 * looked up inside the opened folder itself (/proc/self/fd/N/name, what
 * openat(2) does); elsewhere only the last component is guarded.
 */

import type { Stats } from 'node:fs';
import { constants, existsSync } from 'node:fs';
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
  /** The target folder, resolved once: every operation walks down from it. */
  root: string;
}

export interface DirectoryTarget {
  entry: DirectoryEntry;
  name: string;
  path: string;
  /** False when the folder already exists and is merged into. */
  create: boolean;
  root: string;
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
      targets.push({ entry, name, path, create: !existing, root });
    } else {
      // The mtime is compared as the receiver set it (ms, rounded: utimes takes seconds as a float).
      const present = existing !== undefined && ownLoneFile(existing) && existing.size === entry.size && Math.round(existing.mtimeMs) === entry.mtime;
      if (existing && !overwrite && !present) throw exists(name, '');
      if (existing?.isDirectory()) throw exists(name, ' as a folder');
      const partial = partialName(entry.path.at(-1)!, { peer, size: entry.size, mtime: entry.mtime });
      targets.push({ entry, name, path, partialPath: join(dirname(path), partial), present, root });
    }
  }
  return targets;
}

/**
 * A folder reached from the root without following links, and how to name
 * an entry inside it. On Linux the name goes through the open descriptor
 * (/proc/self/fd/N/name), so whatever its path leads to now does not matter;
 * elsewhere it is the path. Windows cannot open a folder: there it is the
 * path alone, checked with lstat.
 */
class Folder {
  readonly #handle?: FileHandle;
  readonly #path: string;
  readonly #viaDescriptor: boolean;

  constructor(path: string, handle: FileHandle | undefined, viaDescriptor: boolean) {
    this.#path = path;
    this.#handle = handle;
    this.#viaDescriptor = viaDescriptor;
  }

  at(name: string): string {
    if (!this.#viaDescriptor) return join(this.#path, name);
    // A closed handle's number may already be another file's: never name through it.
    if (this.#handle!.fd < 0) throw new Error('the folder was closed');
    return `/proc/self/fd/${this.#handle!.fd}/${name}`;
  }

  async stat(): Promise<Stats> {
    if (this.#handle) return this.#handle.stat();
    const stats = await lstat(this.#path);
    if (!stats.isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    return stats;
  }

  /** fchmod where there is a descriptor: a path chmod would follow a link planted meanwhile. */
  async chmod(mode: number): Promise<void> {
    await (this.#handle ? this.#handle.chmod(mode) : chmod(this.#path, mode));
  }

  /** Makes a rename in it durable. NTFS journals the rename itself. */
  async sync(): Promise<void> {
    await this.#handle?.sync();
  }

  async close(): Promise<void> {
    await this.#handle?.close().catch(() => {});
  }
}

/** Linux names an open descriptor's folder itself under /proc; lookups through it never follow a swapped path. */
const procFolders = process.platform === 'linux' && existsSync('/proc/self/fd');

/** Opens the folder `components` under `root`, each step with O_NOFOLLOW|O_DIRECTORY: a link anywhere below root is ELOOP/ENOTDIR. */
async function openFolder(root: string, components: readonly string[]): Promise<Folder> {
  const path = join(root, ...components);
  if (process.platform === 'win32') {
    const folder = new Folder(path, undefined, false);
    await folder.stat();
    return folder;
  }
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  if (!procFolders) return new Folder(path, await open(path, flags), false);
  let handle = await open(root, constants.O_RDONLY | constants.O_DIRECTORY);
  for (const component of components) {
    try {
      const next = await open(`/proc/self/fd/${handle.fd}/${component}`, flags);
      await handle.close();
      handle = next;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }
  return new Folder(path, handle, true);
}

/** The folder holding an entry (its partial file too), opened from the root. */
async function openParent(target: Target): Promise<Folder> {
  return openFolder(target.root, target.entry.path.slice(0, -1));
}

function ownedByUs(stats: Stats): boolean {
  return !process.getuid || stats.uid === process.getuid();
}

/** Creates the batch's new folders, writable by their owner until their files are in. */
export async function createDirectories(targets: Target[]): Promise<void> {
  for (const target of targets) {
    if (!('create' in target) || !target.create) continue;
    let parent: Folder | undefined;
    let folder: Folder | undefined;
    try {
      parent = await openParent(target);
      await mkdir(parent.at(target.entry.path.at(-1)!), { mode: 0o700 });
      folder = await openFolder(target.root, target.entry.path);
      await folder.chmod(buildingMode(target.entry));
    } catch (error) {
      throw ioError(error, `create folder ${displayName(target.name)}`);
    } finally {
      await parent?.close();
      await folder?.close();
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
    let folder: Folder | undefined;
    try {
      // fchmod on the folder reached without following links: a path chmod would follow one planted meanwhile.
      folder = await openFolder(target.root, entry.path);
      if (!target.create) {
        const stats = await folder.stat();
        const leftBuilding = ownedByUs(stats) && (stats.mode & 0o777) === buildingMode(entry);
        if (!leftBuilding || buildingMode(entry) === mode) continue;
      }
      await folder.chmod(mode);
    } catch (error) {
      throw ioError(error, `set the mode of ${displayName(target.name)}`);
    } finally {
      await folder?.close();
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
  /** The folder it is in, opened when it was: the commit renames inside this folder, whatever its path now leads to. */
  folder: Folder;
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
  let folder: Folder | undefined;
  let handle: FileHandle | undefined;
  try {
    folder = await openParent(target);
    const partialPath = folder.at(partialBase(target));
    handle = await openIfAny(partialPath, constants.O_RDWR);
    handle ??= await open(partialPath, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    const stats = await handle.stat();
    if (!stats.isFile()) throw untrusted(target, 'is not a regular file');
    if (stats.nlink !== 1) throw untrusted(target, 'has other links');
    if (!ownLoneFile(stats)) throw untrusted(target, 'belongs to another user');
    return { handle, length: stats.size, ino: stats.ino, folder };
  } catch (error) {
    await handle?.close();
    await folder?.close();
    throw ioError(error, `write ${displayName(target.name)}`);
  }
}

function partialBase(target: FileTarget): string {
  return target.partialPath.slice(dirname(target.partialPath).length + 1);
}

/** Opens, read-only, the file already under the final name, if it is still one the receiver may offer (see FileTarget.present). */
export async function openPresent(target: FileTarget): Promise<OpenPartial | undefined> {
  let folder: Folder | undefined;
  let handle: FileHandle | undefined;
  try {
    folder = await openParent(target);
    handle = await openIfAny(folder.at(target.entry.path.at(-1)!), constants.O_RDONLY);
    const stats = await handle?.stat();
    if (!handle || !stats || !ownLoneFile(stats) || stats.size !== target.entry.size || Math.round(stats.mtimeMs) !== target.entry.mtime) {
      await handle?.close();
      await folder.close();
      return undefined;
    }
    return { handle, length: stats.size, ino: stats.ino, folder };
  } catch (error) {
    await handle?.close();
    await folder?.close();
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
  const { handle, folder } = partial;
  const partialPath = folder.at(partialBase(target));
  const finalPath = folder.at(entry.path.at(-1)!);
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
      await rename(partialPath, finalPath);
    } else {
      await link(partialPath, finalPath);
      await unlink(partialPath);
    }
    await folder.sync();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw exists(name, ' (it appeared during the transfer)');
    throw ioError(error, `save ${displayName(name)}`);
  }
}

/** Removes the partial file, in the folder it was opened in (closing that folder), or found afresh without following links. */
export async function removePartial(target: FileTarget, partial?: OpenPartial): Promise<void> {
  const folder = partial?.folder ?? (await openParent(target).catch(() => undefined));
  if (!folder) return;
  try {
    await unlink(folder.at(partialBase(target)));
  } catch {
    // Gone already, or its folder was swapped: nothing of ours to remove there.
  }
  await folder.close();
}

/** Closes the folder an open file was reached through. */
export async function closeFolder(open: OpenPartial): Promise<void> {
  await open.folder.close();
}
