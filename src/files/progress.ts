/** Progress reports for a transfer, the same on both sides. */

export interface TransferProgress {
  /** The file moving now: its name, or its '/'-separated path inside a sent folder. */
  name: string;
  /** Bytes done across the whole transfer, counting bytes resumed from an earlier attempt. */
  bytes: number;
  /** Bytes of all files in the transfer. */
  total: number;
  fileBytes: number;
  fileTotal: number;
  /** Bytes per second this attempt has moved, averaged since it began. */
  rate: number;
  /** Seconds left at that rate; undefined until there is a rate. */
  eta: number | undefined;
}

export type ProgressListener = (progress: TransferProgress) => void;

/** Reports come at most this often, plus one when each file completes. */
const REPORT_INTERVAL_MS = 100;

export class ProgressMeter {
  readonly #listener?: ProgressListener;
  readonly #total: number;
  readonly #started = performance.now();
  #lastReport = -Infinity;
  /** Bytes of files already complete. */
  #finished = 0;
  /** Bytes that crossed the network in this attempt (resumed prefixes excluded), for the rate. */
  #moved = 0;
  #name = '';
  #fileBytes = 0;
  #fileTotal = 0;

  constructor(total: number, listener?: ProgressListener) {
    this.#total = total;
    this.#listener = listener;
  }

  startFile(name: string, fileTotal: number, resumed: number): void {
    this.#name = name;
    this.#fileTotal = fileTotal;
    this.#fileBytes = resumed;
  }

  add(bytes: number): void {
    this.#fileBytes += bytes;
    this.#moved += bytes;
    if (performance.now() - this.#lastReport >= REPORT_INTERVAL_MS) this.#report();
  }

  finishFile(): void {
    this.#fileBytes = this.#fileTotal;
    this.#report();
    this.#finished += this.#fileTotal;
  }

  #report(): void {
    if (!this.#listener) return;
    const now = performance.now();
    this.#lastReport = now;
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0 ? this.#moved / seconds : 0;
    const bytes = this.#finished + this.#fileBytes;
    this.#listener({
      name: this.#name,
      bytes,
      total: this.#total,
      fileBytes: this.#fileBytes,
      fileTotal: this.#fileTotal,
      rate,
      eta: rate > 0 ? (this.#total - bytes) / rate : undefined,
    });
  }
}
