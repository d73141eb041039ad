/**
 * A server's budget for the peer data its channels buffer (frames still
 * arriving, messages still being assembled), shared by every connection.
 * A charge that would overrun it drops the connection that would then hold
 * the most: the charging one if it is the largest holder, otherwise the
 * largest other, again until the charge fits. A peer that parks unfinished
 * messages therefore loses its connection before one that only passes
 * messages through does.
 */

import { ErrorCode, NetcryptError } from '../errors.ts';
import type { InboundBudget } from '../channel/secure-channel.ts';

interface Holder {
  heldBytes: number;
  drop: (error: NetcryptError) => void;
}

export class InboundPool {
  readonly limitBytes: number;
  #usedBytes = 0;
  readonly #holders = new Set<Holder>();

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  /**
   * An account for one connection; `drop` ends that connection when the
   * pool picks it to make room. close() it when the connection ends.
   */
  open(drop: (error: NetcryptError) => void): InboundBudget & { close(): void } {
    const holder: Holder = { heldBytes: 0, drop };
    this.#holders.add(holder);
    return {
      charge: (bytes) => this.#charge(holder, bytes),
      refund: (bytes) => {
        if (!this.#holders.has(holder)) return;
        const returned = Math.min(bytes, holder.heldBytes);
        holder.heldBytes -= returned;
        this.#usedBytes -= returned;
      },
      close: () => this.#close(holder),
    };
  }

  #charge(holder: Holder, bytes: number): boolean {
    if (!this.#holders.has(holder)) return false;
    while (this.#usedBytes + bytes > this.limitBytes) {
      let largest = holder;
      let largestBytes = holder.heldBytes + bytes;
      for (const other of this.#holders) {
        if (other.heldBytes > largestBytes) {
          largest = other;
          largestBytes = other.heldBytes;
        }
      }
      if (largest === holder) return false;
      this.#close(largest);
      // Not from inside the charging channel's data handler: the victim's teardown and its report run on their own.
      const victim = largest;
      queueMicrotask(() => victim.drop(budgetExceeded(this.limitBytes)));
    }
    holder.heldBytes += bytes;
    this.#usedBytes += bytes;
    return true;
  }

  /** Everything the connection held goes back at once; later charges are refused. */
  #close(holder: Holder): void {
    if (!this.#holders.delete(holder)) return;
    this.#usedBytes -= holder.heldBytes;
    holder.heldBytes = 0;
  }
}

function budgetExceeded(limitBytes: number): NetcryptError {
  return new NetcryptError(
    ErrorCode.BUDGET_EXCEEDED,
    `the server's ${limitBytes}-byte budget for buffered peer data is spent, and this connection held the most`,
  );
}
