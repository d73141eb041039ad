/**
 * Every TypeScript block in README.md and docs/*.md typechecks under the
 * project's strict settings, importing 'netcrypt' as a user would (mapped to
 * src/), and every block marked `ts run` runs to a clean exit in a fresh
 * folder with a fresh HOME. A doc example that drifts from the API fails here.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type DocBlock, extractBlocks, markdownFiles } from './helpers/doc-blocks.ts';
import { freePort } from './helpers/tor-daemons.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const checkDir = path.join(repoRoot, '.docs-check');
const blocks: DocBlock[] = markdownFiles(repoRoot).flatMap((file) => extractBlocks(repoRoot, file));
const fileName = (block: DocBlock, index: number) =>
  `${String(index).padStart(2, '0')}-${block.where.replace(/[^A-Za-z0-9]+/g, '_')}.${block.kind === 'declarations' ? 'd.ts' : 'ts'}`;

after(() => rmSync(checkDir, { recursive: true, force: true }));

describe('documentation examples', () => {
  it('has TypeScript blocks to check, some of them runnable', () => {
    assert.ok(blocks.length >= 8, `only ${blocks.length} blocks found`);
    assert.ok(blocks.some((block) => block.kind === 'run'));
  });

  it('every block typechecks under --strict', async () => {
    rmSync(checkDir, { recursive: true, force: true });
    mkdirSync(checkDir);
    blocks.forEach((block, index) => writeFileSync(path.join(checkDir, fileName(block, index)), block.code));
    writeFileSync(
      path.join(checkDir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../tsconfig.json',
        compilerOptions: { noEmit: true, paths: { netcrypt: ['../src/index.ts'] } },
        include: ['*.ts', '../src/types/*.d.ts'],
      }),
    );
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', checkDir, '--pretty', 'false'], { cwd: repoRoot }).catch(
      (error: { stdout?: string; stderr?: string }) => error,
    );
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    // Name the Markdown line rather than the generated file.
    const named = output.replace(/^.*?(\d\d)-[^(]*\((\d+),\d+\)/gm, (_, index: string, line: string) => {
      const block = blocks[Number(index)]!;
      const [file, start] = block.where.split(':');
      return `${file}:${Number(start) + Number(line)}`;
    });
    assert.equal(named.trim(), '', named);
  });

  const tsx = import.meta.resolve('tsx');
  for (const [index, block] of blocks.entries()) {
    if (block.kind !== 'run') continue;
    it(`${block.where} runs to a clean exit`, { timeout: 120_000 }, async () => {
      const home = mkdtempSync(path.join(os.tmpdir(), 'netcrypt-docs-'));
      try {
        const file = path.join(home, 'example.mts');
        // The examples use port 4000, as a reader would; the test gives each a free one.
        const port = await freePort();
        const source = block.code
          .replace(/from 'netcrypt'/g, `from '${path.join(repoRoot, 'src/index.ts')}'`)
          .replace(/\b4000\b/g, String(port));
        writeFileSync(file, source);
        const { stderr } = await run(process.execPath, ['--import', tsx, file], {
          cwd: home,
          env: { ...process.env, HOME: home },
          timeout: 100_000,
        });
        assert.doesNotMatch(stderr, /Error|Warning/, stderr);
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    });
  }
});
