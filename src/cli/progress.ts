/**
 * Transfer progress as the user sees it: with a terminal on stderr, two
 * cli-progress bars (the file moving now, and the whole transfer with rate
 * and ETA) and a line per finished file; with --json, a progress event per
 * report (the library reports at most every 100 ms and once per finished file).
 */

import cliProgress from 'cli-progress';
import type { TransferProgress } from '../index.ts';
import { type Reporter, formatBytes } from './report.ts';

export class ProgressDisplay {
  readonly #report: Reporter;
  readonly #bars?: cliProgress.MultiBar;
  #file?: cliProgress.SingleBar;
  #overall?: cliProgress.SingleBar;
  #finished = new Set<string>();

  constructor(report: Reporter) {
    this.#report = report;
    if (report.mode === 'human' && process.stderr.isTTY) {
      this.#bars = new cliProgress.MultiBar({
        stream: process.stderr,
        format: '{label} {bar} {percentage}% | {done} of {size}{extra}',
        barCompleteChar: '█',
        barIncompleteChar: '░',
        barsize: 30,
        hideCursor: true,
        autopadding: true,
        // The library's reports pace the redraws; cli-progress should not hold them back.
        fps: 20,
      });
    }
  }

  update(progress: TransferProgress): void {
    this.#report.event('progress', { ...progress });
    if (!this.#bars) return;
    const overall = { label: 'total'.padEnd(24), done: formatBytes(progress.bytes), size: formatBytes(progress.total), extra: rateAndEta(progress) };
    const file = { label: shorten(progress.name, 24), done: formatBytes(progress.fileBytes), size: formatBytes(progress.fileTotal), extra: '' };
    this.#file ??= this.#bars.create(progress.fileTotal, progress.fileBytes, file);
    this.#overall ??= this.#bars.create(progress.total, progress.bytes, overall);
    this.#file.setTotal(Math.max(progress.fileTotal, 1));
    this.#file.update(progress.fileTotal === 0 ? 1 : progress.fileBytes, file);
    this.#overall.setTotal(Math.max(progress.total, 1));
    this.#overall.update(progress.total === 0 ? 1 : progress.bytes, overall);
    if (progress.fileBytes === progress.fileTotal && !this.#finished.has(progress.name)) {
      this.#finished.add(progress.name);
      this.#bars.log(`  ✓ ${progress.name} (${formatBytes(progress.fileTotal)})\n`);
    }
  }

  /** Draws the final state, with any finished-file lines not yet shown (cli-progress prints them only at its next redraw). */
  stop(): void {
    if (!this.#bars?.isActive) return;
    this.#bars.update();
    this.#bars.stop();
  }
}

function rateAndEta({ rate, eta }: TransferProgress): string {
  const speed = rate > 0 ? ` | ${formatBytes(rate)}/s` : '';
  return eta === undefined ? speed : `${speed} | ETA ${formatDuration(eta)}`;
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

/** Long names keep their end, where the file's own name is. */
function shorten(name: string, width: number): string {
  return name.length <= width ? name.padEnd(width) : `…${name.slice(name.length - width + 1)}`;
}
