/**
 * What a command tells its user: human lines on stderr (stdout may be
 * data), or with `--json` one JSON object per event, or nothing but the
 * failure line with `--quiet`.
 */

import type { Writable } from 'node:stream';

export type ReportMode = 'human' | 'json' | 'quiet';

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

export class Reporter {
  readonly mode: ReportMode;
  readonly #events: Writable;

  /** `events` is where JSON goes: stdout, or stderr for the pipe commands whose stdout is the data. */
  constructor(options: OutputOptions, events: Writable = process.stdout) {
    this.mode = options.json ? 'json' : options.quiet ? 'quiet' : 'human';
    this.#events = events;
  }

  /** A line for a person. */
  say(line: string): void {
    if (this.mode === 'human') process.stderr.write(`${line}\n`);
  }

  /** A line of a command's result, for a person: stdout, since it is what the command was run for. */
  print(line: string): void {
    if (this.mode === 'human') process.stdout.write(`${line}\n`);
  }

  /** An event for a script: `{"event": name, ...fields}` on one line. */
  event(name: string, fields: Record<string, unknown> = {}): void {
    if (this.mode === 'json') this.#events.write(`${JSON.stringify({ event: name, ...fields })}\n`);
  }
}

/** 1536000 → "1.5 MB": decimal units, as file managers and magic-wormhole show sizes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
