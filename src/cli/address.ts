/** Parsing what the user types for where to listen and where to dial. */

import { InvalidArgumentError } from 'commander';

export interface Address {
  host: string;
  port: number;
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('expected a port number, 0 to 65535');
  return port;
}

/** `host:port`, `[v6]:port`, or `:port` for this machine. */
export function parseAddress(value: string): Address {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected host:port');
  const port = parsePort(match[3]!);
  if (port === 0) throw new InvalidArgumentError('port 0 cannot be dialled');
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

export function formatAddress({ host, port }: Address): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
