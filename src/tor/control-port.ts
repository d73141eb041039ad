/**
 * A small, strict client for Tor's control protocol (control-spec.txt): it
 * connects to a ControlPort over TCP, reads PROTOCOLINFO, authenticates, and
 * then runs one command at a time, in order, as Tor answers them.
 *
 * Authentication, in order of preference when the caller does not choose:
 * SAFECOOKIE (Tor proves it knows the cookie before we prove we do, so an
 * impostor listening on the port learns nothing), then COOKIE only for a
 * cookie file the caller named, then NULL (Tor asks for nothing) only if the
 * caller allowed it: a port that asks for nothing proves nothing, and whoever
 * listens there first (any local user) could invent the onion address we
 * return as ours. A password always means HASHEDPASSWORD.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { open } from 'node:fs/promises';
import net from 'node:net';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { type ControlReply, ControlReplyParser, type ControlReplyLimits, parseReplyArguments } from './control-reply.ts';
import { checkTimeout, withDeadline } from '../deadline.ts';
import { checkPort } from './socks-dialer.ts';

export type ControlAuthMethod = 'SAFECOOKIE' | 'COOKIE' | 'HASHEDPASSWORD' | 'NULL';

export interface TorControlOptions extends ControlReplyLimits {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 9051. */
  port?: number;
  /** HashedControlPassword authentication. */
  password?: string;
  /** The cookie file to use instead of the one Tor names in PROTOCOLINFO. */
  cookieFile?: string;
  /** Forces one method instead of the automatic choice ('NULL' counts as allowing it). */
  authMethod?: ControlAuthMethod;
  /**
   * Accept a control port that asks for no authentication. Off by default:
   * such a port may be anyone's, not your Tor's. Turn it on only for a Tor you
   * started yourself with no other user on the machine.
   */
  allowNullAuth?: boolean;
  /** Bounds connecting and authenticating. Default 30 000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface CommandOptions {
  /** Default 30 000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ProtocolInfo {
  authMethods: string[];
  cookieFile?: string;
  torVersion?: string;
}

export const DEFAULT_CONTROL_PORT = 9051;
export const DEFAULT_CONTROL_TIMEOUT_MS = 30_000;

const SAFECOOKIE_SERVER_KEY = 'Tor safe cookie authentication server-to-controller hash';
const SAFECOOKIE_CLIENT_KEY = 'Tor safe cookie authentication controller-to-server hash';
const COOKIE_BYTES = 32;
const NONCE_BYTES = 32;

interface Pending {
  keyword: string;
  resolve: (reply: ControlReply) => void;
  reject: (error: NetcryptError) => void;
}

export class TorControl {
  /** What Tor said in PROTOCOLINFO before we authenticated. */
  readonly protocolInfo: ProtocolInfo;
  /** The method that authenticated this connection. */
  readonly authMethod: ControlAuthMethod;
  readonly #connection: ControlConnection;

  private constructor(connection: ControlConnection, protocolInfo: ProtocolInfo, authMethod: ControlAuthMethod) {
    this.#connection = connection;
    this.protocolInfo = protocolInfo;
    this.authMethod = authMethod;
  }

  /** Connects to a ControlPort and authenticates; fails with ERR_TOR_CONTROL, ERR_TIMEOUT or ERR_ABORTED. */
  static async connect(options: TorControlOptions = {}): Promise<TorControl> {
    const host = options.host ?? '127.0.0.1';
    const port = checkPort(options.port ?? DEFAULT_CONTROL_PORT, 'control port');
    const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS);
    if (options.password !== undefined && (typeof options.password !== 'string' || options.password.length === 0)) {
      throw invalidArgument('password must be a non-empty string');
    }
    const name = `Tor control port ${host}:${port}`;
    let socket: net.Socket | undefined;
    return withDeadline(
      async () => {
        socket = net.connect({ host, port });
        const connection = await ControlConnection.open(socket, name, options);
        const protocolInfo = parseProtocolInfo(await connection.command('PROTOCOLINFO 1'));
        const method = chooseAuthMethod(protocolInfo.authMethods, options);
        await authenticate(connection, method, protocolInfo, options);
        return new TorControl(connection, protocolInfo, method);
      },
      { what: `connecting to the ${name}`, timeoutMs, signal: options.signal, onCancel: () => socket?.destroy() },
    ).catch((error: unknown) => {
      socket?.destroy();
      throw error;
    });
  }

  get closed(): boolean {
    return this.#connection.closed;
  }

  /**
   * Sends one command line and resolves with Tor's 2xx reply; 4xx and 5xx
   * replies reject with ERR_TOR_CONTROL. A command that times out or is
   * aborted closes the connection: its late reply would be taken for the
   * next command's.
   */
  async command(line: string, options: CommandOptions = {}): Promise<ControlReply> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS);
    const keyword = line.split(' ', 1)[0] ?? line;
    return withDeadline(() => this.#connection.command(line), {
      what: `the Tor control command ${keyword}`,
      timeoutMs,
      signal: options.signal,
      onCancel: () => this.#connection.destroy(`the command ${keyword} timed out or was aborted`),
    });
  }

  /** GETINFO for one key; multi-line values come back joined with "\n". */
  async getInfo(key: string, options?: CommandOptions): Promise<string> {
    if (!/^[\w/.:@$-]+$/.test(key)) throw invalidArgument(`${JSON.stringify(key)} is not a GETINFO key`);
    const reply = await this.command(`GETINFO ${key}`, options);
    const first = reply.lines[0];
    if (!first?.text.startsWith(`${key}=`)) throw unexpected(`GETINFO ${key}`);
    return first.data ?? first.text.slice(key.length + 1);
  }

  /** Ends the connection; onion services it added without the Detach flag end with it. Idempotent. */
  close(): Promise<void> {
    return this.#connection.close();
  }
}

/** The socket, the reply parser and the queue of commands awaiting replies. */
class ControlConnection {
  readonly #socket: net.Socket;
  readonly #name: string;
  readonly #parser: ControlReplyParser;
  readonly #pending: Pending[] = [];
  readonly #closed: Promise<void>;
  #failure: NetcryptError | undefined;

  private constructor(socket: net.Socket, name: string, limits: ControlReplyLimits) {
    this.#socket = socket;
    this.#name = name;
    this.#parser = new ControlReplyParser(limits);
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#fail(new NetcryptError(ErrorCode.TOR_CONTROL, `the ${name} connection failed: ${error.message}`, { cause: error })));
    socket.on('close', () => {
      const cut = this.#parser.midReply ? ' in the middle of a reply' : '';
      this.#fail(new NetcryptError(ErrorCode.TOR_CONTROL, `the ${name} closed the connection${cut}`));
    });
  }

  /** Waits for `socket` to connect; the connection takes it over from then on. */
  static open(socket: net.Socket, name: string, limits: ControlReplyLimits): Promise<ControlConnection> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        reject(new NetcryptError(ErrorCode.TOR_CONTROL, `cannot reach the ${name} (${error.code ?? error.message}); is Tor running with a ControlPort?`, { cause: error }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new ControlConnection(socket, name, limits));
      });
    });
  }

  get closed(): boolean {
    return this.#failure !== undefined;
  }

  command(line: string): Promise<ControlReply> {
    if (line.length === 0 || /[\r\n\0]/.test(line)) throw invalidArgument('a control command is one non-empty line');
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#pending.push({ keyword: line.split(' ', 1)[0] ?? line, resolve, reject });
      this.#socket.write(`${line}\r\n`);
    });
  }

  /** Closes at once; commands waiting for replies, and any sent later, fail with `reason`. */
  destroy(reason: string): void {
    this.#fail(new NetcryptError(ErrorCode.TOR_CONTROL, `the connection to the ${this.#name} was closed: ${reason}`));
  }

  close(): Promise<void> {
    if (!this.#socket.destroyed) {
      this.#socket.end();
      // Tor closes its side on our EOF; this only guards against a peer that does not.
      setTimeout(() => this.#socket.destroy(), 1000).unref();
    }
    return this.#closed;
  }

  #receive(chunk: Buffer): void {
    let replies: ControlReply[];
    try {
      replies = this.#parser.push(chunk);
    } catch (error) {
      this.#fail(error as NetcryptError);
      return;
    }
    for (const reply of replies) {
      // 6xx replies are asynchronous events; this client subscribes to none, so any that come are ignored.
      if (reply.status >= 600 && reply.status < 700) continue;
      const pending = this.#pending.shift();
      if (!pending) {
        this.#fail(new NetcryptError(ErrorCode.TOR_CONTROL, `the ${this.#name} sent a reply to no command`));
        return;
      }
      if (reply.status >= 200 && reply.status < 300) {
        pending.resolve(reply);
      } else {
        const message = reply.lines.map((l) => l.text).join(' ');
        pending.reject(new NetcryptError(ErrorCode.TOR_CONTROL, `the ${this.#name} refused ${pending.keyword}: ${reply.status} ${message}`));
      }
    }
  }

  #fail(error: NetcryptError): void {
    this.#failure ??= error;
    this.#socket.destroy();
    for (const pending of this.#pending.splice(0)) pending.reject(this.#failure);
  }
}

function parseProtocolInfo(reply: ControlReply): ProtocolInfo {
  let info: ProtocolInfo | undefined;
  let torVersion: string | undefined;
  for (const line of reply.lines) {
    const { words, values } = parseReplyArguments(line.text);
    if (words[0] === 'AUTH') {
      const methods = values.get('METHODS');
      if (methods === undefined) throw unexpected('PROTOCOLINFO');
      info = { authMethods: methods.split(','), cookieFile: values.get('COOKIEFILE') };
    } else if (words[0] === 'VERSION') {
      torVersion = values.get('Tor');
    }
  }
  if (!info) throw unexpected('PROTOCOLINFO');
  return { ...info, torVersion };
}

function chooseAuthMethod(offered: string[], options: TorControlOptions): ControlAuthMethod {
  const offers = (method: ControlAuthMethod): boolean => offered.includes(method);
  const refuse = (why: string): NetcryptError =>
    new NetcryptError(ErrorCode.TOR_CONTROL, `${why} (Tor offers ${offered.join(', ') || 'nothing'}); configure a password or a readable cookie file`);

  if (options.authMethod !== undefined) {
    if (!offers(options.authMethod)) throw refuse(`the control port does not offer ${options.authMethod} authentication`);
    return options.authMethod;
  }
  if (options.password !== undefined) {
    if (!offers('HASHEDPASSWORD')) throw refuse('the control port does not accept a password');
    return 'HASHEDPASSWORD';
  }
  if (offers('SAFECOOKIE')) return 'SAFECOOKIE';
  // Plain COOKIE sends the file's contents to whoever listens on the port, so only for a file the caller chose.
  if (offers('COOKIE') && options.cookieFile !== undefined) return 'COOKIE';
  // A caller who named a cookie file expects to authenticate; a port asking for nothing is not the Tor they meant.
  if (offers('NULL') && options.cookieFile === undefined) {
    if (options.allowNullAuth === true) return 'NULL';
    throw new NetcryptError(
      ErrorCode.TOR_CONTROL,
      'the control port asks for no authentication, so it may not be your Tor (anyone can listen on a local port first); ' +
        'configure CookieAuthentication or a password in torrc, or pass allowNullAuth: true if this Tor is yours',
    );
  }
  throw refuse('no usable authentication method');
}

async function authenticate(connection: ControlConnection, method: ControlAuthMethod, info: ProtocolInfo, options: TorControlOptions): Promise<void> {
  switch (method) {
    case 'NULL':
      await connection.command('AUTHENTICATE');
      return;
    case 'HASHEDPASSWORD':
      if (options.password === undefined) throw invalidArgument('HASHEDPASSWORD authentication needs a password');
      // Hex avoids quoting: control-spec accepts the password hex-encoded.
      await connection.command(`AUTHENTICATE ${Buffer.from(options.password, 'utf8').toString('hex')}`);
      return;
    case 'COOKIE': {
      const cookie = await readCookie(options.cookieFile ?? info.cookieFile);
      await connection.command(`AUTHENTICATE ${cookie.toString('hex')}`);
      return;
    }
    case 'SAFECOOKIE': {
      const cookie = await readCookie(options.cookieFile ?? info.cookieFile);
      const clientNonce = randomBytes(NONCE_BYTES);
      const reply = await connection.command(`AUTHCHALLENGE SAFECOOKIE ${clientNonce.toString('hex')}`);
      const { words, values } = parseReplyArguments(reply.lines[0]?.text ?? '');
      const serverHash = hexBytes(values.get('SERVERHASH'), 32);
      const serverNonce = hexBytes(values.get('SERVERNONCE'), NONCE_BYTES);
      if (words[0] !== 'AUTHCHALLENGE' || !serverHash || !serverNonce) throw unexpected('AUTHCHALLENGE');
      const transcript = Buffer.concat([cookie, clientNonce, serverNonce]);
      const expected = createHmac('sha256', SAFECOOKIE_SERVER_KEY).update(transcript).digest();
      if (!timingSafeEqual(expected, serverHash)) {
        throw new NetcryptError(ErrorCode.TOR_CONTROL, 'the control port could not prove it knows the authentication cookie: wrong cookie file, or not the expected Tor');
      }
      const response = createHmac('sha256', SAFECOOKIE_CLIENT_KEY).update(transcript).digest('hex');
      await connection.command(`AUTHENTICATE ${response}`);
      return;
    }
  }
}

/** Cookies are exactly 32 bytes; control-spec forbids using a file of any other length. */
async function readCookie(path: string | undefined): Promise<Buffer> {
  if (path === undefined) throw new NetcryptError(ErrorCode.TOR_CONTROL, 'Tor named no authentication cookie file; pass cookieFile');
  let bytes: Buffer;
  try {
    const file = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(COOKIE_BYTES + 1);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      bytes = buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new NetcryptError(ErrorCode.TOR_CONTROL, `cannot read Tor's authentication cookie ${path} (${reason}); is this user allowed to read it?`, { cause: error });
  }
  if (bytes.length !== COOKIE_BYTES) {
    throw new NetcryptError(ErrorCode.TOR_CONTROL, `${path} is not a Tor authentication cookie (not ${COOKIE_BYTES} bytes)`);
  }
  return bytes;
}

function hexBytes(value: string | undefined, length: number): Buffer | undefined {
  return value !== undefined && value.length === length * 2 && /^[0-9a-fA-F]+$/.test(value) ? Buffer.from(value, 'hex') : undefined;
}

function unexpected(command: string): NetcryptError {
  return new NetcryptError(ErrorCode.TOR_CONTROL, `unexpected reply from the Tor control port to ${command}`);
}
