/**
 * The CLI's JSON words (newcomer trial): a plain word is a string, JSON is JSON, and text that
 * looks like JSON but does not parse is a usage error — a typo must never be signed as a string.
 */
import assert from "node:assert/strict";
import { jsonOrWord, UsageError } from "../../src/client/_cli_ops.ts";

Deno.test("a JSON-looking typo is refused, a plain word is a string", () => {
  assert.deepEqual(jsonOrWord('{"job":42}'), { job: 42 });
  assert.equal(jsonOrWord("hello"), "hello");
  assert.equal(jsonOrWord("42"), 42);
  for (const typo of ['{"job":42', "{job:42}", '["a",', '"unterminated']) {
    assert.throws(() => jsonOrWord(typo), UsageError, typo);
  }
});
