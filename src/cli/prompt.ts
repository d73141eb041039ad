/** Asking the person at the terminal a yes/no question, magic-wormhole style: "Receive 3 files (5.0 MB)? y/n". */

import { createInterface } from 'node:readline/promises';

/** True when there is a person to ask: stdin is a terminal. */
export function canAsk(): boolean {
  return process.stdin.isTTY === true;
}

/** Asks on stderr, reads stdin; anything but y/yes is no. */
export async function askYesNo(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} y/n `);
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}
