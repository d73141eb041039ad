/**
 * Hosting a local TCP server as a v3 onion service through Tor's control port
 * (ADD_ONION / DEL_ONION). The service is tied to the control connection — it
 * is added without Tor's Detach flag — so it also disappears if this process
 * dies, never outliving the server it points to.
 */

import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { parseReplyArguments } from './control-reply.ts';
import { TorControl } from './control-port.ts';
import { onionPublicKey } from './onion-address.ts';
import { checkPort } from './socks-dialer.ts';

export interface OnionServiceOptions {
  /** The local port your server listens on; Tor forwards to 127.0.0.1:port, so bind the server there. */
  port: number;
  /** The port clients dial at the onion address. Default: `port`. */
  virtualPort?: number;
  /** Default 127.0.0.1. */
  controlHost?: string;
  /** Default 9051. */
  controlPort?: number;
  /** HashedControlPassword authentication; without it, SAFECOOKIE with the cookie Tor names (or `cookieFile`). */
  password?: string;
  cookieFile?: string;
  /** Accept a control port that asks for no authentication (see TorControlOptions.allowNullAuth). */
  allowNullAuth?: boolean;
  /** `ED25519-V3:<base64>` from an earlier service, to host the same address again. */
  privateKey?: string;
  /** Bounds connecting to the control port, and then adding the service. Default 30 000 ms each. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface OnionService {
  /** `<56 base32 characters>.onion` */
  readonly address: string;
  readonly virtualPort: number;
  /** `ED25519-V3:<base64>`: whoever holds it can impersonate the service, so store it as a secret. */
  readonly privateKey: string;
  /** Removes the service and closes the control connection. Idempotent. */
  close(): Promise<void>;
}

/** Tor's ED25519-V3 key blob is the 64-byte expanded secret key in base64. */
const PRIVATE_KEY = /^ED25519-V3:([A-Za-z0-9+/]{86}==)$/;

export async function hostOnionService(options: OnionServiceOptions): Promise<OnionService> {
  const port = checkPort(options.port, 'port');
  const virtualPort = checkPort(options.virtualPort ?? port, 'virtualPort');
  if (options.privateKey !== undefined && !isPrivateKey(options.privateKey)) {
    throw invalidArgument("privateKey must be 'ED25519-V3:' followed by a base64 64-byte key, as hostOnionService returned it");
  }
  const control = await TorControl.connect({
    host: options.controlHost,
    port: options.controlPort,
    password: options.password,
    cookieFile: options.cookieFile,
    allowNullAuth: options.allowNullAuth,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
  });
  try {
    const key = options.privateKey ?? 'NEW:ED25519-V3';
    const reply = await control.command(`ADD_ONION ${key} Port=${virtualPort},127.0.0.1:${port}`, {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    });
    const values = new Map(reply.lines.flatMap((line) => [...parseReplyArguments(line.text).values]));
    const serviceId = values.get('ServiceID');
    // Tor only returns the key of a service it generated.
    const privateKey = options.privateKey ?? values.get('PrivateKey');
    if (serviceId === undefined || onionPublicKey(serviceId) === undefined || privateKey === undefined || !isPrivateKey(privateKey)) {
      throw new NetcryptError(ErrorCode.TOR_CONTROL, 'Tor answered ADD_ONION without a valid v3 service ID and key');
    }
    let closing: Promise<void> | undefined;
    return {
      address: `${serviceId}.onion`,
      virtualPort,
      privateKey,
      close: () => (closing ??= removeService(control, serviceId)),
    };
  } catch (error) {
    await control.close();
    throw error;
  }
}

function isPrivateKey(value: string): boolean {
  const base64 = PRIVATE_KEY.exec(value)?.[1];
  return base64 !== undefined && Buffer.from(base64, 'base64').length === 64;
}

async function removeService(control: TorControl, serviceId: string): Promise<void> {
  try {
    if (!control.closed) await control.command(`DEL_ONION ${serviceId}`);
  } catch {
    // Closing the control connection, just below, removes the service anyway.
  } finally {
    await control.close();
  }
}
