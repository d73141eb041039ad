/**
 * Names of received files come from the peer and are never trusted. A name
 * is one path component that is safe to create on every operating system a
 * receiver may run: POSIX, macOS and Windows. Anything else is refused with
 * ERR_BAD_FILENAME before a byte is written. Senders check their own names
 * with the same rules so that a doomed transfer fails before it starts.
 */

import { createHash } from 'node:crypto';
import { isAbsolute, join, relative, sep } from 'node:path';
import { ErrorCode, NetcryptError } from '../errors.ts';

/** The usual limit of one path component (ext4, APFS, NTFS), in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;
/** Deepest directory nesting a transfer may create. */
export const MAX_DEPTH = 64;
/** Longest relative path a transfer may create, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;

const PARTIAL_SUFFIX = '.netcrypt-partial';

/**
 * Characters refused anywhere in a name, each with the reason:
 * separators would escape the folder; ':' is a drive (`C:x` is
 * drive-relative) or an NTFS alternate data stream on Windows; control
 * characters (C0, DEL, C1) and bidi controls (which can make `exe.txt`
 * display as `txt.exe`) mislead people and terminals; lone surrogates are
 * not text; U+FFFD means the sender's name was not valid UTF-8. Default-
 * ignorable code points (U+200B, U+2060, U+FEFF, U+00AD, tag characters
 * U+E0000–U+E0FFF, …) are invisible, so `a\u200Bb` would pass for `ab`;
 * line and paragraph separators break a listing in two.
 */
const REFUSED: [RegExp, string][] = [
  [/[/\\]/u, 'contains a path separator'],
  [/:/u, 'contains ":" (a drive or alternate data stream on Windows)'],
  [/\p{Cc}/u, 'contains a control character'],
  [/\p{Bidi_Control}/u, 'contains a bidirectional control character'],
  [/\p{Cs}/u, 'is not valid Unicode'],
  [/\uFFFD/u, 'contains U+FFFD (the name was not valid UTF-8)'],
  [/\p{Default_Ignorable_Code_Point}/u, 'contains an invisible (default-ignorable) character'],
  [/[\p{Zl}\p{Zp}]/u, 'contains a line or paragraph separator'],
];

/**
 * The default-ignorable characters emoji are made of, where they are part
 * of one: a variation selector after an emoji (❤️), and a zero-width joiner
 * between two pictographs (👩🏽‍💻). Nowhere else are they allowed.
 */
const EMOJI_JOINERS = /(?<=\p{Emoji})[\uFE0E\uFE0F]|(?<=[\p{Extended_Pictographic}\p{Emoji_Modifier}]\uFE0F?)\u200D(?=\p{Extended_Pictographic})/gu;

/** What a name must not become under NFKC: look-alikes such as fullwidth `．．` (U+FF0E) or `／` (U+FF0F) fold to these. */
const NFKC_REFUSED = /^\.\.?$|[/\\:]/u;

/** Device names Windows reserves whatever the extension: `CON`, `nul.txt`, `COM1.tar.gz`. */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³]|conin\$|conout\$)$/iu;

function badName(name: string, reason: string): NetcryptError {
  return new NetcryptError(ErrorCode.BAD_FILENAME, `refused file name ${displayName(name)}: ${reason}`);
}

/** A name quoted for messages, with every invisible or reordering character escaped and the length capped. */
export function displayName(name: string): string {
  const quoted = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  return quoted.replace(/[\p{Cc}\p{Bidi_Control}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu, (c) => {
    const code = c.codePointAt(0)!;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Returns `name` if it is a safe single path component; throws ERR_BAD_FILENAME otherwise. */
export function checkName(name: string): string {
  if (name === '') throw badName(name, 'is empty');
  if (name === '.' || name === '..') throw badName(name, 'is a relative directory reference');
  const visible = name.replace(EMOJI_JOINERS, '');
  for (const [pattern, reason] of REFUSED) if (pattern.test(visible)) throw badName(name, reason);
  if (NFKC_REFUSED.test(name.normalize('NFKC'))) throw badName(name, 'looks like a path separator or a relative directory reference (under NFKC)');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw badName(name, `is longer than ${MAX_NAME_BYTES} UTF-8 bytes`);
  // Windows silently strips a trailing dot or space, so `a.` would land on `a`.
  if (/[. ]$/u.test(name)) throw badName(name, 'ends with a dot or a space');
  if (WINDOWS_DEVICE.test(name.split('.')[0]!.trimEnd())) throw badName(name, 'is a reserved device name on Windows');
  // Such a file would be taken for another file's partial transfer and renamed over it.
  if (name.endsWith(PARTIAL_SUFFIX)) throw badName(name, `ends with ${PARTIAL_SUFFIX}, the suffix of partial transfers`);
  return name;
}

/** Checks a relative path given as components, each a safe name; returns it joined with '/'. */
export function checkRelativePath(components: readonly string[]): string {
  if (components.length === 0) throw badName('', 'is empty');
  if (components.length > MAX_DEPTH) throw badName(components.join('/'), `is nested deeper than ${MAX_DEPTH} folders`);
  for (const component of components) checkName(component);
  const joined = components.join('/');
  if (Buffer.byteLength(joined, 'utf8') > MAX_PATH_BYTES) throw badName(joined, `is longer than ${MAX_PATH_BYTES} UTF-8 bytes`);
  return joined;
}

/**
 * Joins checked components under `root` and proves the result stays inside
 * it. With checked names this cannot fail; it is the second lock on the door.
 */
export function confinedPath(root: string, components: readonly string[]): string {
  const path = join(root, ...components);
  const inside = relative(root, path);
  if (inside === '' || inside.split(sep)[0] === '..' || isAbsolute(inside)) {
    throw badName(components.join('/'), 'escapes the target folder');
  }
  return path;
}

/** Who a partial file belongs to: the peer that sent it, and the file as that peer announced it. */
export interface PartialOwner {
  /** The sending peer's key fingerprint, `SHA256:…`. */
  peer: string;
  size: number;
  mtime: number;
}

/**
 * The hidden file a transfer writes before the final rename, in the same
 * folder so the rename is atomic: `.<name>.<tag>.netcrypt-partial`, where
 * `tag` binds it to one peer and one announced file (size and mtime), so a
 * later transfer of the same file from the same peer finds it and resumes,
 * and nobody else's transfer ever sees it. Names too long for that use a
 * hash of the name in place of `<name>`.
 */
export function partialName(name: string, owner: PartialOwner): string {
  const tag = createHash('sha256')
    .update(`netcrypt partial\0${owner.peer}\0${name}\0${owner.size}\0${owner.mtime}`)
    .digest('hex')
    .slice(0, 32);
  const plain = `.${name}.${tag}${PARTIAL_SUFFIX}`;
  if (Buffer.byteLength(plain, 'utf8') <= MAX_NAME_BYTES) return plain;
  return `.${createHash('sha256').update(name).digest('hex').slice(0, 32)}.${tag}${PARTIAL_SUFFIX}`;
}
