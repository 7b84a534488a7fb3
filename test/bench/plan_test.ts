/**
 * The benchmark suite's plan (bench/_plan.ts) and harness (scripts/bench.ts): checked without
 * running any benchmark.
 */
import assert from "node:assert/strict";
import {
  checkPlan,
  commandOf,
  isLogLine,
  jsonObjects,
  planFor,
  type Step,
  TEXT_LINES_MAX,
  textLines,
} from "../../bench/_plan.ts";

const ROOT = new URL("../../", import.meta.url);
const exists = (path: string) => {
  try {
    return Deno.statSync(new URL(path, ROOT)).isFile;
  } catch {
    return false;
  }
};

Deno.test("planFor() lists scripts that exist, with arguments that parse, in both sets", () => {
  assert.deepEqual(checkPlan(planFor("quick"), exists), []);
  assert.deepEqual(checkPlan(planFor("full"), exists), []);
});

Deno.test("checkPlan() names a missing script, a repeated id and a list that does not parse", () => {
  const bad: Step[] = [
    { id: "a", script: "bench/nope.ts", timeoutS: 1, what: "" },
    { id: "a", script: "bench/simulate.ts", args: ["--agents", "10,,1000"], timeoutS: 1, what: "" },
    { id: "b", script: "bench/hop.ts", env: { BENCH_SAMPLES: "3,,0" }, timeoutS: 0, what: "" },
  ];
  assert.deepEqual(checkPlan(bad, exists), [
    "step a: bench/nope.ts does not exist",
    "step a: id repeated",
    "step a: --agents 10,,1000 does not parse",
    "step b: timeout must be positive",
    "step b: BENCH_SAMPLES=3,,0 does not parse",
  ]);
});

Deno.test("commandOf() quotes the environment, deno's flags, the script and its arguments", () => {
  const step = planFor("quick").find((s) => s.id === "reconcile_field")!;
  assert.equal(
    commandOf(step),
    "BENCH_AUTOMERGE_IDS_MAX=10000 deno run -A bench/reconcile_field.ts 10000,100000 " +
      "1,100,10000 ours,v1,list,negentropy,automerge,yjs",
  );
});

Deno.test("jsonObjects() finds one-line and pretty-printed objects among other output", () => {
  const stdout = [
    "[2026-11-28T00:00:00Z] loading",
    '{"a":1,"s":"} { \\" ]"}',
    "| table | row |",
    "{",
    ' "b": [1, {"c": 2}]',
    "}",
    "  {not: json}",
    "{broken",
    "",
  ].join("\n");
  assert.deepEqual(jsonObjects(stdout), [{ a: 1, s: '} { " ]' }, { b: [1, { c: 2 }] }]);
});

Deno.test("textLines() keeps the text around the JSON objects; isLogLine() tells a region's log line", () => {
  const stdout = [
    "[2026-11-28T00:00:00Z] loading",
    '{"ts":"2026-11-28T00:00:01Z","level":"info","event":"mesh.peer.up","region":"eu-1"}',
    "{",
    ' "b": 1',
    "}",
    "denokv both ×4: 4000 accepted in 1.2 s",
    "",
  ].join("\n");
  assert.deepEqual(textLines(stdout), [
    "[2026-11-28T00:00:00Z] loading",
    "denokv both ×4: 4000 accepted in 1.2 s",
  ]);
  assert.deepEqual(jsonObjects(stdout).map(isLogLine), [true, false]);
  const many = Array.from({ length: TEXT_LINES_MAX + 5 }, (_, i) => `line ${i}`).join("\n");
  assert.equal(textLines(many).length, TEXT_LINES_MAX);
  assert.equal(textLines(many).at(-1), `line ${TEXT_LINES_MAX + 4}`);
});

Deno.test("scripts/bench.ts --dry-run checks the quick set's plan and runs nothing", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/bench.ts", "--set", "quick", "--dry-run"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.match(text, /^hot_path: BENCH_ROUNDS=3 deno run -A bench\/hot_path\.ts$/m);
  assert.match(text, /plan quick: \d+ steps, sound\n$/);
});
