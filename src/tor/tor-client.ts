/**
 * The user-facing Tor switch: `enableTor()` fixes the proxy and the defaults
 * once, then `connect(port, host)` dials through Tor like `net.connect`.
 * The protocol classes' `enableTor()` and `connect({ tor })` build on it.
 */

import type net from 'node:net';
import { checkTimeout } from '../deadline.ts';
import {
  DEFAULT_DIAL_TIMEOUT_MS,
  type SocksProxyOptions,
  type StreamIsolation,
  checkIsolation,
  dialThroughSocks,
  socksProxy,
} from './socks-dialer.ts';

export interface TorOptions {
  /** Tor's SocksPort. Default 127.0.0.1:9050; Tor Browser's bundled Tor uses 9150. */
  proxy?: SocksProxyOptions;
  /** Default `'per-connection'`: no two connections share a Tor circuit. */
  isolation?: StreamIsolation;
  /** Default 120 000 ms per connection attempt. */
  timeoutMs?: number;
}

export interface TorConnectOptions {
  isolation?: StreamIsolation;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface TorClient {
  readonly proxy: { readonly host: string; readonly port: number };
  /** Connects to `host:port` through Tor; `host` may be a `.onion` address and is never resolved locally. */
  connect(port: number, host: string, options?: TorConnectOptions): Promise<net.Socket>;
}

/** Validates the options at once, so a misconfiguration fails here rather than at the first connection. */
export function enableTor(options: TorOptions = {}): TorClient {
  const proxy = socksProxy(options.proxy);
  const isolation = checkIsolation(options.isolation ?? 'per-connection');
  const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS);
  return {
    proxy: { host: proxy.host, port: proxy.port },
    connect: (port, host, connectOptions = {}) =>
      dialThroughSocks({
        host,
        port,
        proxy,
        isolation: connectOptions.isolation ?? isolation,
        timeoutMs: connectOptions.timeoutMs ?? timeoutMs,
        signal: connectOptions.signal,
      }),
  };
}
