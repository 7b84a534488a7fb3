/** The generated blocks of docs/performance.md (bench/_markers.ts): pure rewrites. */
import assert from "node:assert/strict";
import {
  markedNames,
  MARKER_END,
  markerStart,
  replaceAllMarked,
  replaceMarked,
} from "../../bench/_markers.ts";

const DOC = [
  "# Performance",
  "hand-written intro",
  markerStart("summary"),
  "old summary",
  MARKER_END,
  "hand-written between",
  markerStart("propagation"),
  MARKER_END,
  "hand-written tail",
  "",
].join("\n");

Deno.test("replaceMarked() rewrites only between its markers", () => {
  const out = replaceMarked(DOC, "summary", "| a |\n| - |");
  assert.equal(
    out,
    DOC.replace("old summary\n", "\n| a |\n| - |\n\n"),
  );
  assert.ok(out.startsWith("# Performance\nhand-written intro\n"));
  assert.ok(out.endsWith(
    "hand-written between\n<!-- bench:generated:propagation -->\n" +
      "<!-- /bench:generated -->\nhand-written tail\n",
  ));
});

Deno.test("replaceMarked() is idempotent", () => {
  const once = replaceMarked(DOC, "propagation", "table");
  assert.equal(replaceMarked(once, "propagation", "table"), once);
});

Deno.test("replaceMarked() throws on a missing, repeated or unclosed block", () => {
  assert.throws(() => replaceMarked(DOC, "charts", "x"), /Cannot find/);
  assert.throws(
    () => replaceMarked(DOC + markerStart("summary"), "summary", "x"),
    /more than once/,
  );
  const unclosed = DOC.replace(`old summary\n${MARKER_END}`, "old summary");
  assert.throws(() => replaceMarked(unclosed, "summary", "x"), /no <!-- \/bench:generated -->/);
  assert.throws(() => replaceMarked(DOC, "Bad Name", "x"), TypeError);
});

Deno.test("markedNames() lists blocks in order; replaceAllMarked() reports the missing", () => {
  assert.deepEqual(markedNames(DOC), ["summary", "propagation"]);
  const { doc, missing } = replaceAllMarked(DOC, { propagation: "p", charts: "c" });
  assert.deepEqual(missing, ["charts"]);
  assert.match(doc, /propagation -->\n\np\n\n<!-- \/bench/);
  assert.match(doc, /old summary/);
});
