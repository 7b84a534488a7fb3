/**
 * The benchmark suite (issue 14): runs the scripts of bench/ as separate processes, keeps each
 * one's JSON output in bench/results/, and (full set) rewrites the generated blocks of
 * docs/performance.md and the SVG charts of docs/images/ from those results.
 *
 *   deno task bench                # quick set, < 5 minutes: results in bench/results/quick/
 *   deno task bench:full           # everything at the issue's sizes (hours): bench/results/,
 *                                  # then the tables and charts
 *   deno task bench:charts         # tables and charts again from bench/results/, no runs
 *
 * Options: `--set quick|full`, `--only id,id` (steps of the set), `--dry-run` (check the plan:
 * scripts exist, arguments parse; runs nothing), `--charts` (as bench:charts), `--no-docs`.
 * On a shared machine run it under `nice -n 19`.
 */
import { parseArgs } from "node:util";
import {
  type BenchSet,
  checkPlan,
  commandOf,
  denoArgs,
  isLogLine,
  jsonObjects,
  planFor,
  type Step,
  textLines,
} from "../bench/_plan.ts";
import { loadNow, machine } from "../bench/_machine.ts";
import { headline, type StoredRun } from "../bench/_report.ts";
import { writeCharts, writeDocs } from "../bench/_publish.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const RESULTS = `${ROOT}bench/results`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    set: { type: "string", default: "quick" },
    only: { type: "string" },
    "dry-run": { type: "boolean", default: false },
    charts: { type: "boolean", default: false },
    "no-docs": { type: "boolean", default: false },
  },
});

if (values.set !== "quick" && values.set !== "full") {
  throw new TypeError(`Cannot run set "${values.set}": use quick or full`);
}
const set: BenchSet = values.set;
const only = values.only?.split(",");
const plan = planFor(set).filter((s) => only === undefined || only.includes(s.id));

/** Whether `name` is an executable on PATH. */
function onPath(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${name}`).isFile;
    } catch {
      return false;
    }
  });
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(`${ROOT}${path}`).isFile;
  } catch {
    return false;
  }
}

async function run(step: Step): Promise<StoredRun> {
  const base = {
    id: step.id,
    set,
    what: step.what,
    command: commandOf(step),
    startedAt: new Date().toISOString(),
    machine: machine(),
  };
  const missing = (step.needs ?? []).filter((b) => !onPath(b));
  if (missing.length > 0) {
    const reason = `skipped: ${
      missing.join(", ")
    } not installed (deno run -A bench/field.ts setup)`;
    console.error(`[bench] ${step.id}: ${reason}`);
    return {
      ...base,
      status: "skipped",
      reason,
      durationS: 0,
      load: [loadNow(), loadNow()],
      results: [],
    };
  }
  console.error(`[bench] ${step.id}: ${base.command}`);
  const load0 = loadNow();
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: denoArgs(step),
    cwd: ROOT,
    env: { ...step.env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGTERM");
  }, step.timeoutS * 1000);
  const out = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(out.stdout);
  const durationS = Math.round((performance.now() - t0) / 100) / 10;
  const status = out.success && !timedOut ? "ok" : "failed";
  const reason = timedOut
    ? `timed out after ${step.timeoutS} s`
    : out.success
    ? undefined
    : `exit ${out.code}`;
  return {
    ...base,
    status,
    reason,
    durationS,
    load: [load0, loadNow()],
    results: jsonObjects(stdout).filter((o) => !isLogLine(o)),
    text: textLines(stdout),
  };
}

async function runSet(): Promise<void> {
  const dir = set === "quick" ? `${RESULTS}/quick` : RESULTS;
  await Deno.mkdir(dir, { recursive: true });
  const t0 = performance.now();
  const runs: StoredRun[] = [];
  for (const step of plan) {
    const result = await run(step);
    runs.push(result);
    await Deno.writeTextFile(`${dir}/${step.id}.json`, JSON.stringify(result, null, 1) + "\n");
    console.error(`[bench] ${step.id}: ${result.status} in ${result.durationS} s`);
  }
  console.log(`\n${set} set, ${((performance.now() - t0) / 1000).toFixed(0)} s:`);
  for (const r of runs) {
    console.log(`- ${r.id} (${r.status}, ${r.durationS} s): ${r.reason ?? headline(r)}`);
  }
}

const problems = checkPlan(plan, exists);
if (problems.length > 0) {
  console.error(problems.join("\n"));
  Deno.exit(1);
}
if (values["dry-run"]) {
  for (const step of plan) {
    const missing = (step.needs ?? []).filter((b) => !onPath(b));
    console.log(
      `${step.id}: ${commandOf(step)}${missing.length ? ` (skipped: no ${missing})` : ""}`,
    );
  }
  console.log(`plan ${set}: ${plan.length} steps, sound`);
} else {
  if (!values.charts) await runSet();
  if (values.charts || set === "full") {
    const charts = await writeCharts(RESULTS, `${ROOT}docs/images`);
    console.log(`charts: ${charts.join(", ")}`);
    if (!values["no-docs"]) {
      const { written, missing } = await writeDocs(RESULTS, `${ROOT}docs/performance.md`);
      console.log(`docs/performance.md blocks: ${written.join(", ")}`);
      if (missing.length > 0) {
        console.log(`not in the document (no markers): ${missing.join(", ")}`);
      }
    }
  }
}
