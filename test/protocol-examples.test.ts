import assert from 'node:assert/strict';
import { it } from 'node:test';
import { documentedExamples, renderExamples } from '../scripts/protocol-examples.ts';

it('docs/PROTOCOL.md carries exactly the worked examples the code produces (npm run docs:examples)', async () => {
  const rendered = await renderExamples();
  assert.ok(rendered.includes('Thanks for having me'), 'the example session completed and the message opened');
  assert.equal(documentedExamples(), rendered);
});
