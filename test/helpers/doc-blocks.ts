/**
 * The TypeScript blocks of the project's Markdown, for the docs test.
 *
 * A fence's info string says what the block is:
 *   ```ts        a complete module: typechecked under the project's strict settings
 *   ```ts run    the same, and also run; it must exit 0 on its own (loopback only)
 *   ```ts d.ts   declarations (API listings): typechecked as a declaration file
 * Any other language (sh, text, none) is not checked.
 */

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export type BlockKind = 'module' | 'run' | 'declarations';

export interface DocBlock {
  /** `README.md:39`: the file and the line of the opening fence. */
  where: string;
  kind: BlockKind;
  code: string;
}

const FENCE = /^```(\S*)\s*(.*)$/;

export function markdownFiles(repoRoot: string): string[] {
  const docs = readdirSync(path.join(repoRoot, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join('docs', name));
  return ['README.md', ...docs.sort()];
}

function kindOf(language: string, tag: string): BlockKind | undefined {
  if (language !== 'ts' && language !== 'typescript') return undefined;
  if (tag === '') return 'module';
  if (tag === 'run') return 'run';
  if (tag === 'd.ts') return 'declarations';
  throw new Error(`unknown tag "${tag}" on a TypeScript block (use run or d.ts)`);
}

export function extractBlocks(repoRoot: string, file: string): DocBlock[] {
  const lines = readFileSync(path.join(repoRoot, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  let open: { line: number; kind: BlockKind | undefined; body: string[] } | undefined;
  lines.forEach((line, index) => {
    const fence = FENCE.exec(line);
    if (!fence) {
      open?.body.push(line);
      return;
    }
    if (!open) {
      open = { line: index + 1, kind: kindOf(fence[1]!, fence[2]!.trim()), body: [] };
      return;
    }
    if (open.kind) blocks.push({ where: `${file}:${open.line}`, kind: open.kind, code: open.body.join('\n') + '\n' });
    open = undefined;
  });
  if (open) throw new Error(`${file}:${open.line}: unclosed code fence`);
  return blocks;
}
