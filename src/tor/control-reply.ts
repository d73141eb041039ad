/**
 * Sans-I/O parser for Tor control-protocol replies (control-spec §2.3, §2.4):
 * bytes in, complete replies out.
 *
 *   MidReplyLine  = StatusCode "-" ReplyLine
 *   DataReplyLine = StatusCode "+" ReplyLine CmdData   (data ends with a lone ".", leading dots doubled)
 *   EndReplyLine  = StatusCode SP ReplyLine
 *
 * It is strict — CRLF line ends, one status code per reply, UTF-8 text
 * (invalid sequences, also inside a quoted string's escapes, are refused
 * rather than replaced) — and bounded: a
 * line longer than `maxLineBytes` or a reply larger than `maxReplyBytes` is an
 * error as soon as it is seen, so a misbehaving peer cannot make it buffer
 * without limit. Every failure is a NetcryptError (ERR_TOR_CONTROL), after
 * which the parser refuses further input.
 */

import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';

export interface ControlReplyLine {
  /** The text after the status code and separator. */
  text: string;
  /** The data block of a "+" line, dot-unstuffed, lines joined with "\n". */
  data?: string;
}

export interface ControlReply {
  status: number;
  lines: ControlReplyLine[];
}

export interface ControlReplyLimits {
  /** Longest line accepted, CRLF excluded. Default 64 KiB. */
  maxLineBytes?: number;
  /** Largest reply accepted, all its lines and line ends included. Default 4 MiB. */
  maxReplyBytes?: number;
}

const CRLF = Buffer.from('\r\n');

export class ControlReplyParser {
  readonly #maxLineBytes: number;
  readonly #maxReplyBytes: number;
  /** The unterminated line so far, in a buffer grown by doubling: a line split into many chunks is copied O(n), not O(n²). */
  #partial: Buffer = Buffer.alloc(0);
  #partialBytes = 0;
  #failure: NetcryptError | undefined;
  #status = 0;
  #lines: ControlReplyLine[] = [];
  #replyBytes = 0;
  /** The lines of the data block being read, or undefined outside one. */
  #data: string[] | undefined;

  constructor(limits: ControlReplyLimits = {}) {
    this.#maxLineBytes = checkLimit(limits.maxLineBytes ?? 64 * 1024, 'maxLineBytes');
    this.#maxReplyBytes = checkLimit(limits.maxReplyBytes ?? 4 * 1024 * 1024, 'maxReplyBytes');
  }

  /** True while a reply has begun but not ended, so the peer closing now would cut it short. */
  get midReply(): boolean {
    return this.#replyBytes > 0 || this.#partialBytes > 0;
  }

  /** Feeds bytes; returns the replies they complete, in order. */
  push(chunk: Uint8Array): ControlReply[] {
    if (this.#failure) throw this.#failure;
    try {
      return this.#consume(chunk);
    } catch (error) {
      this.#failure = error as NetcryptError;
      this.#partial = Buffer.alloc(0);
      this.#partialBytes = 0;
      throw error;
    }
  }

  /** Each byte is searched once: only the new chunk is scanned for line ends (and a CR left at the end of the last one). */
  #consume(chunk: Uint8Array): ControlReply[] {
    const replies: ControlReply[] = [];
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let at = 0;
    for (;;) {
      let line: Buffer;
      let next: number;
      if (at === 0 && this.#partialBytes > 0 && this.#partial[this.#partialBytes - 1] === 0x0d && bytes[0] === 0x0a) {
        line = this.#partial.subarray(0, this.#partialBytes - 1);
        next = 1;
      } else {
        const end = bytes.indexOf(CRLF, at);
        if (end === -1) break;
        line = this.#partialBytes === 0 ? bytes.subarray(at, end) : this.#append(bytes.subarray(at, end));
        next = end + 2;
      }
      if (line.length > this.#maxLineBytes) throw malformed(`a line exceeds ${this.#maxLineBytes} bytes`);
      this.#replyBytes += line.length + 2;
      if (this.#replyBytes > this.#maxReplyBytes) throw malformed(`a reply exceeds ${this.#maxReplyBytes} bytes`);
      this.#partialBytes = 0;
      const reply = this.#line(line);
      if (reply) replies.push(reply);
      at = next;
    }
    // An unterminated line may hold at most the limit plus the CR of its line end.
    const rest = bytes.length - at;
    if (this.#partialBytes + rest > this.#maxLineBytes + 1) throw malformed(`a line exceeds ${this.#maxLineBytes} bytes`);
    if (this.#replyBytes + this.#partialBytes + rest > this.#maxReplyBytes + 1) throw malformed(`a reply exceeds ${this.#maxReplyBytes} bytes`);
    // Copied so the retained tail does not pin the whole chunk it came from.
    if (rest > 0) this.#append(bytes.subarray(at));
    return replies;
  }

  /** Appends to the unterminated line; returns all of it. The caller has checked the length against the limit. */
  #append(bytes: Buffer): Buffer {
    const needed = this.#partialBytes + bytes.length;
    if (needed > this.#partial.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(needed, 2 * this.#partial.length, 256), Math.max(needed, this.#maxLineBytes + 2)));
      this.#partial.copy(grown, 0, 0, this.#partialBytes);
      this.#partial = grown;
    }
    bytes.copy(this.#partial, this.#partialBytes);
    this.#partialBytes = needed;
    return this.#partial.subarray(0, needed);
  }

  #line(line: Buffer): ControlReply | undefined {
    if (this.#data) {
      if (line.length === 1 && line[0] === 0x2e) {
        const current = this.#lines[this.#lines.length - 1];
        if (current) current.data = this.#data.join('\n');
        this.#data = undefined;
      } else {
        this.#data.push(text(line[0] === 0x2e ? line.subarray(1) : line));
      }
      return undefined;
    }

    if (line.length < 4 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2])) {
      throw malformed('a line does not start with a three-digit status code');
    }
    // Tor ends every line with CRLF; a lone LF would silently merge two lines into one.
    if (line.includes(0x0a)) throw malformed('a line contains a bare LF');
    const status = Number(line.subarray(0, 3).toString('latin1'));
    if (this.#lines.length > 0 && status !== this.#status) {
      throw malformed(`status code changed from ${this.#status} to ${status} within one reply`);
    }
    this.#status = status;
    const separator = line[3];
    const replyLine: ControlReplyLine = { text: text(line.subarray(4)) };
    this.#lines.push(replyLine);
    if (separator === 0x2d /* - */) return undefined;
    if (separator === 0x2b /* + */) {
      this.#data = [];
      return undefined;
    }
    if (separator !== 0x20 /* SP */) throw malformed('a status code is followed by neither "-", "+" nor a space');

    const reply = { status, lines: this.#lines };
    this.#lines = [];
    this.#replyBytes = 0;
    return reply;
  }
}

/**
 * Splits reply text into positional words and KEY=VALUE pairs, where VALUE
 * may be a QuotedString: `AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/x y"`.
 * Quoted values are decoded as control-spec §2.1.1 advises, accepting Tor's
 * C-style escapes (\n, \t, \r, octal) as well as plain backslash escapes.
 */
export function parseReplyArguments(line: string): { words: string[]; values: Map<string, string> } {
  const words: string[] = [];
  const values = new Map<string, string>();
  let at = 0;
  while (at < line.length) {
    if (line[at] === ' ') {
      at++;
      continue;
    }
    // Scanned once, up to the token's first space or "=": searching the whole rest of the line for each token was O(n²).
    let end = at;
    while (end < line.length && line[end] !== ' ' && line[end] !== '=') end++;
    if (line[end] !== '=') {
      words.push(line.slice(at, end));
      at = end;
      continue;
    }
    const key = line.slice(at, end);
    if (line[end + 1] === '"') {
      const [value, next] = quotedString(line, end + 1);
      values.set(key, value);
      at = next;
    } else {
      const space = line.indexOf(' ', end + 1);
      const valueEnd = space === -1 ? line.length : space;
      values.set(key, line.slice(end + 1, valueEnd));
      at = valueEnd;
    }
  }
  return { words, values };
}

/** Decodes the QuotedString starting at `line[start]`; returns it and the index after its closing quote. */
function quotedString(line: string, start: number): [string, number] {
  const pieces: Buffer[] = [];
  let escapes: number[] = [];
  let at = start + 1;
  while (at < line.length) {
    // A run of plain text is encoded in one go; it ends only at ASCII '"' or '\\', never inside a surrogate pair.
    let end = at;
    while (end < line.length && line[end] !== '"' && line[end] !== '\\') end++;
    if (end > at) {
      if (escapes.length > 0) pieces.push(Buffer.from(escapes));
      escapes = [];
      pieces.push(Buffer.from(line.slice(at, end), 'utf8'));
      at = end;
    }
    if (at >= line.length) break;
    if (line[at] === '"') return [text(Buffer.concat([...pieces, Buffer.from(escapes)])), at + 1];
    if (at + 1 >= line.length) break;
    // By code point: a UTF-16 half of an astral character would become U+FFFD.
    const escaped = String.fromCodePoint(line.codePointAt(at + 1)!);
    const octal = /^[0-7]{1,3}/.exec(line.slice(at + 1, at + 4))?.[0];
    if (octal !== undefined && Number.parseInt(octal, 8) <= 0xff) {
      escapes.push(Number.parseInt(octal, 8));
      at += 1 + octal.length;
      continue;
    }
    const named = C_ESCAPES.get(escaped);
    if (named === undefined) escapes.push(...Buffer.from(escaped, 'utf8'));
    else escapes.push(named);
    at += 1 + escaped.length;
  }
  throw malformed('a quoted string is not terminated');
}

const C_ESCAPES = new Map([
  ['n', 0x0a],
  ['t', 0x09],
  ['r', 0x0d],
]);

function checkLimit(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 4) throw invalidArgument(`${name} must be an integer of at least 4`);
  return value;
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reply text as strict UTF-8: what the control port sent is refused, never rewritten, if it is not text. */
function text(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw malformed('a reply is not valid UTF-8');
  }
}

function malformed(reason: string): NetcryptError {
  return new NetcryptError(ErrorCode.TOR_CONTROL, `malformed reply from the Tor control port: ${reason}`);
}
