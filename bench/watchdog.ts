/**
 * A watchdog for the benchmarks: every network call a benchmark awaits goes
 * through watch(), which reports — by name, with what keeps the process
 * alive — any call that has not settled within its own timeout plus a
 * margin, and then fails it, so a hang is a reported failure rather than a
 * silent stall. bench:channel once hung in connect() with no timer pending.
 */

const MARGIN_MS = 5_000;
const stalled: string[] = [];

export function watch<T>(name: string, timeoutMs: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const after = timeoutMs + MARGIN_MS;
      stalled.push(name);
      process.stderr.write(`  watchdog: ${name} has not settled ${after} ms after it began; alive: ${process.getActiveResourcesInfo().join(', ')}\n`);
      reject(new Error(`watchdog: ${name} did not settle within ${after} ms`));
    }, timeoutMs + MARGIN_MS);
  });
  // The late rejection is reported above; the call itself may still settle later, unobserved.
  work.catch(() => {});
  return Promise.race([work, overdue]).finally(() => clearTimeout(timer));
}

/** The calls that overran, for the run's summary. */
export function stalledCalls(): readonly string[] {
  return stalled;
}
