/** What a createServer() reported through onHandshakeError/onChannelError, to await in tests. */

import type net from 'node:net';
import { isNetcryptError } from '../../src/errors.ts';
import type { Channel } from '../../src/protocol/channel.ts';

export interface Report {
  kind: 'handshake' | 'channel';
  code: string;
  /** The peer's key fingerprint (channel reports) or source address (handshake reports). */
  who: string | undefined;
}

export class ServerReports {
  readonly all: Report[] = [];
  readonly #waiting: { match: (report: Report) => boolean; resolve: (report: Report) => void }[] = [];

  readonly onHandshakeError = (error: unknown, socket: net.Socket): void => this.#add('handshake', error, socket.remoteAddress);
  readonly onChannelError = (error: unknown, channel: Channel): void => this.#add('channel', error, channel.peerFingerprint);

  /** The first report (already in or still to come) that matches. */
  next(match: (report: Report) => boolean): Promise<Report> {
    const seen = this.all.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiting.push({ match, resolve }));
  }

  count(match: (report: Report) => boolean): number {
    return this.all.filter(match).length;
  }

  #add(kind: Report['kind'], error: unknown, who: string | undefined): void {
    const report = { kind, code: isNetcryptError(error) ? error.code : String(error), who };
    this.all.push(report);
    for (const [index, waiter] of [...this.#waiting.entries()].reverse()) {
      if (waiter.match(report)) {
        this.#waiting.splice(index, 1);
        waiter.resolve(report);
      }
    }
  }
}
