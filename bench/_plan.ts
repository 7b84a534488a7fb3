/**
 * What `deno task bench` (the quick set, under 5 minutes on the 2-core machine) and
 * `deno task bench:full` (everything, at the sizes: hours) run: one step per benchmark
 * script with its arguments and environment. Pure data and checks; scripts/bench.ts runs them.
 */

export type BenchSet = "quick" | "full";

export interface Step {
  /** Names the step's results file, bench/results/<id>.json. */
  readonly id: string;
  readonly script: string;
  /** `deno run` (default), or `deno bench` for the Deno.bench files (with `--json`). */
  readonly tool?: "run" | "bench";
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Flags for `deno run` besides -A. */
  readonly denoFlags?: readonly string[];
  /** Binaries that must be on PATH; without one the step is skipped, saying which. */
  readonly needs?: readonly string[];
  /** Longest the step may run, s. */
  readonly timeoutS: number;
  /** What the step measures, for the runs table. */
  readonly what: string;
}

const HEAP_16G = "--v8-flags=--max-old-space-size=16000";

const QUICK: readonly Step[] = [
  {
    id: "hot_path",
    script: "bench/hot_path.ts",
    env: { BENCH_ROUNDS: "3" },
    timeoutS: 60,
    what: "parse → verify → apply vs bare verify",
  },
  {
    id: "hop",
    script: "bench/hop.ts",
    env: { BENCH_SAMPLES: "30", BENCH_WARMUP: "5", BENCH_ROUTES: "eu-1>us-1" },
    timeoutS: 90,
    what: "one hop eu-1 → us-1, 30 samples",
  },
  {
    id: "reconcile_field",
    script: "bench/reconcile_field.ts",
    args: ["10000,100000", "1,100,10000", "ours,v1,list,negentropy,automerge,yjs"],
    env: { BENCH_AUTOMERGE_IDS_MAX: "10000" },
    timeoutS: 150,
    what: "reconciliation vs the field, 10k and 100k ids",
  },
  {
    id: "ingest_micro",
    script: "bench/ingest_bench.ts",
    tool: "bench",
    timeoutS: 90,
    what: "ingest steps per 100-delta push vs bare verify (Deno.bench)",
  },
  {
    id: "simulate",
    script: "bench/simulate.ts",
    args: ["--agents", "10,1000", "--json"],
    timeoutS: 60,
    what: "scale simulation, 10 and 1,000 agents",
  },
  {
    id: "field",
    script: "bench/field.ts",
    denoFlags: ["--cached-only"],
    env: { BENCH_ONLY: "ours,nats", BENCH_SAMPLES: "30", BENCH_WARMUP: "5", BENCH_DELAYS: "0" },
    needs: ["nats-server"],
    timeoutS: 120,
    what: "propagation A → B, ours and NATS, no added latency, 30 samples",
  },
];

const FULL: readonly Step[] = [
  {
    id: "field",
    script: "bench/field.ts",
    denoFlags: ["--cached-only"],
    needs: ["nats-server", "serf"],
    timeoutS: 3_600,
    what: "propagation and durable writes vs NATS, gossipsub, Serf (0 and 50 ms links)",
  },
  {
    id: "reconcile_field",
    script: "bench/reconcile_field.ts",
    timeoutS: 3_600,
    what: "reconciliation vs the field, 10k/100k/1M ids, d = 1/100/10,000",
  },
  {
    id: "reconcile",
    script: "bench/reconcile.ts",
    timeoutS: 3_600,
    what: "reconciliation v2 vs v1, 1M vs 1M",
  },
  {
    id: "simulate",
    script: "bench/simulate.ts",
    args: ["--agents", "10,1000,100000", "--json"],
    denoFlags: [HEAP_16G],
    timeoutS: 1_800,
    what: "scale simulation, 10 to 100,000 agents",
  },
  {
    id: "simulate_1m",
    script: "bench/simulate.ts",
    args: ["--agents", "1000000", "--json"],
    denoFlags: [HEAP_16G],
    timeoutS: 3_600,
    what: "scale simulation, 1,000,000 agents",
  },
  {
    id: "million_region",
    script: "bench/million_region.ts",
    timeoutS: 7_200,
    what: "one region holding 1M deltas and 1M cards under 200 pushes/s: RSS",
  },
  { id: "hot_path", script: "bench/hot_path.ts", timeoutS: 600, what: "hot path vs bare verify" },
  { id: "hop", script: "bench/hop.ts", timeoutS: 1_200, what: "one and two hops, 200 samples" },
  {
    id: "hop_pair",
    script: "bench/hop.ts",
    env: { BENCH_LAYOUT: "pair", BENCH_SAMPLES: "300" },
    timeoutS: 600,
    what: "one hop with only the two regions on the machine, 300 samples",
  },
  {
    id: "hop_floor",
    script: "bench/hop_floor.ts",
    timeoutS: 300,
    what: "the floor: one hop with nothing but HTTP, two verifies, two commits",
  },
  { id: "e2e", script: "bench/e2e.ts", timeoutS: 600, what: "ingest over HTTP into Deno KV" },
  { id: "mesh", script: "bench/mesh.ts", timeoutS: 1_200, what: "visibility, partition, heal" },
  {
    id: "registry",
    script: "bench/registry.ts",
    // Checkpoints at 500,000 and 1,000,000 (each starts a region process and runs 4 × 500
    // queries twice), 1,000 queries of each kind at the end: the direct run of 2026-11-27.
    args: ["--checkpoint-every", "500000", "--queries", "1000"],
    denoFlags: ["--v8-flags=--expose-gc"],
    timeoutS: 14_400,
    what: "1M agent cards: announce rate, discovery, RSS",
  },
  { id: "topics", script: "bench/topics.ts", timeoutS: 600, what: "topic delivery" },
  { id: "proposals", script: "bench/proposals.ts", timeoutS: 1_800, what: "tally of 100k ballots" },
  { id: "blobs", script: "bench/blobs.ts", timeoutS: 600, what: "10 MiB blobs, memory" },
  { id: "cold_view", script: "bench/cold_view.ts", timeoutS: 3_600, what: "first view of 1M" },
  {
    id: "bootstrap",
    script: "bench/bootstrap.ts",
    args: ["--deltas", "1000000", "--mode", "bulk"],
    timeoutS: 5_400,
    what: "catch-up of an empty region from 1M: bulk copy",
  },
  { id: "cron_mesh", script: "bench/cron_mesh.ts", timeoutS: 600, what: "jobs on a 1-min trigger" },
  {
    id: "shared_store",
    script: "bench/shared_store.ts",
    timeoutS: 1_800,
    what: "many instances, one store",
  },
  {
    id: "sync_dos",
    script: "bench/sync_dos.ts",
    timeoutS: 600,
    what: "reconciliation under attack",
  },
];

export function planFor(set: BenchSet): readonly Step[] {
  return set === "quick" ? QUICK : FULL;
}

/** The arguments of `deno` for a step. */
export function denoArgs(step: Step): string[] {
  const [tool, tail] = step.tool === "bench" ? ["bench", ["--json"]] : ["run", []];
  return [tool, "-A", ...(step.denoFlags ?? []), ...tail, step.script, ...(step.args ?? [])];
}

/** The command line a step runs (what the generated tables quote). */
export function commandOf(step: Step): string {
  const env = Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${v}`);
  return [...env, "deno", ...denoArgs(step)].join(" ");
}

/**
 * Problems with a plan, none when it is sound: every script exists under `root`, ids are
 * unique file names, timeouts positive, and numeric arguments parse (comma lists of positive
 * integers, `--name value` pairs complete).
 */
export function checkPlan(plan: readonly Step[], exists: (path: string) => boolean): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const step of plan) {
    const at = `step ${step.id}`;
    if (!/^[a-z0-9_]+$/.test(step.id)) problems.push(`${at}: id is not a file name`);
    if (ids.has(step.id)) problems.push(`${at}: id repeated`);
    ids.add(step.id);
    if (!exists(step.script)) problems.push(`${at}: ${step.script} does not exist`);
    if (!(step.timeoutS > 0)) problems.push(`${at}: timeout must be positive`);
    problems.push(...checkArgs(step.args ?? []).map((p) => `${at}: ${p}`));
    for (const [k, v] of Object.entries(step.env ?? {})) {
      if (!/^BENCH_[A-Z_]+$/.test(k)) problems.push(`${at}: env ${k} is not a BENCH_ variable`);
      if (/^\d[\d,]*$/.test(v) && !numberList(v)) problems.push(`${at}: ${k}=${v} does not parse`);
    }
  }
  return problems;
}

function numberList(text: string): boolean {
  return text.split(",").every((n) => /^\d+$/.test(n) && Number(n) >= 0);
}

function checkArgs(args: readonly string[]): string[] {
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg.startsWith("--")) {
      const value = args[i + 1];
      const flag = value === undefined || value.startsWith("--");
      if (!flag && /^[\d,]+$/.test(value) && !numberList(value)) {
        problems.push(`${arg} ${value} does not parse`);
      }
      if (!flag) i++;
    } else if (/^[\d,]+$/.test(arg) && !numberList(arg)) {
      problems.push(`argument ${arg} does not parse`);
    }
  }
  return problems;
}

/**
 * The JSON objects a benchmark printed on stdout, in order: each starting with `{` at the start
 * of a line, one line or many (pretty-printed); other lines (tables, logs) are skipped.
 */
export function jsonObjects(stdout: string): unknown[] {
  return scanOutput(stdout).objects;
}

/** Whether `value` is a structured log line (the regions' `{ts, level, event, ...}`), not a result. */
export function isLogLine(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.ts === "string" && typeof v.level === "string" && typeof v.event === "string";
}

/** Most lines of plain text kept from a step's output. */
export const TEXT_LINES_MAX = 40;

/**
 * The last TEXT_LINES_MAX non-empty lines of `stdout` outside its JSON objects: what a step that
 * prints its figures as text (e.g. bench/shared_store.ts) measured.
 */
export function textLines(stdout: string): string[] {
  return scanOutput(stdout).text.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "")
    .slice(-TEXT_LINES_MAX);
}

function scanOutput(stdout: string): { objects: unknown[]; text: string } {
  const objects: unknown[] = [];
  let text = "", i = 0, copied = 0;
  while (i < stdout.length) {
    const lineStart = i === 0 || stdout[i - 1] === "\n";
    if (!lineStart || stdout[i] !== "{") {
      i++;
      continue;
    }
    const end = objectEnd(stdout, i);
    if (end > 0) {
      try {
        objects.push(JSON.parse(stdout.slice(i, end)));
        text += stdout.slice(copied, i);
        i = copied = end;
        continue;
      } catch { /* not JSON after all */ }
    }
    i++;
  }
  return { objects, text: text + stdout.slice(copied) };
}

/** Index after the `}` closing the object at `from`, or -1 (strings and escapes respected). */
function objectEnd(text: string, from: number): number {
  let depth = 0, inString = false;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
