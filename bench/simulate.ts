/**
 * The scale simulation (issue 14): a seeded discrete-event run of the mesh's protocol core with
 * 10 to 1,000,000 agents (model and definitions in docs/simulation.md).
 *
 *   deno run -A --v8-flags=--max-old-space-size=16000 bench/simulate.ts --agents 1000000
 *
 * Options: `--agents 10,1000` (sizes, one run each), `--seed 1`, `--loss 0.01` (packets),
 * `--fail 0.001` (requests), `--regions 24 --zones 4` (default by size),
 * `--ingest 10000` (new deltas a region stores per second; 0: unbounded), `--rate <deltas/s>`
 * (steady-phase writes mesh-wide), `--no-partition`, `--partition-ms 20000`,
 * `--verify-every 1`, `--json` (one JSON line per size instead of the table), `--serf` (only the
 * Serf models). The code before issue 14's three fixes, for comparison: `--heartbeat together`,
 * `--repair-sync`, `--drain log-pages` (`--before-fixes`: all three).
 *
 * Prints per size: rounds and simulated time to converge, messages and bytes per agent,
 * cross-region traffic, partition detection, the end-of-run checks, wall time and peak RSS; then
 * the seeds' targets and the Serf models for the same sizes.
 */
import { parseArgs } from "node:util";
import { scenarioFor, type ScenarioOptions } from "./sim/scenario.ts";
import { simulate } from "./sim/simulation.ts";
import { formatRun, formatTargets, peakRssMb, runFigures } from "./sim/report.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    agents: { type: "string", default: "10,1000" },
    seed: { type: "string" },
    loss: { type: "string" },
    fail: { type: "string" },
    regions: { type: "string" },
    zones: { type: "string" },
    ingest: { type: "string" },
    rate: { type: "string" },
    "partition-ms": { type: "string" },
    heartbeat: { type: "string" },
    "verify-every": { type: "string" },
    json: { type: "boolean", default: false },
    "repair-sync": { type: "boolean", default: false },
    drain: { type: "string" },
    "before-fixes": { type: "boolean", default: false },
    "no-partition": { type: "boolean", default: false },
    serf: { type: "boolean", default: false },
  },
});
const sizes = args.agents.split(",").map(Number);

if (!args.serf) {
  for (const agents of sizes) {
    const overrides: Partial<ScenarioOptions> = {};
    const set = <K extends keyof ScenarioOptions>(key: K, value: ScenarioOptions[K]) => {
      overrides[key] = value;
    };
    if (args.seed !== undefined) set("seed", Number(args.seed));
    if (args.loss !== undefined) set("lossRate", Number(args.loss));
    if (args.fail !== undefined) set("failRate", Number(args.fail));
    if (args.regions !== undefined) set("regions", Number(args.regions));
    if (args.zones !== undefined) set("zones", Number(args.zones));
    if (args.ingest !== undefined) set("ingestPerSecond", Number(args.ingest));
    if (args.rate !== undefined) set("writesPerSecond", Number(args.rate));
    if (args["partition-ms"] !== undefined) set("partitionMs", Number(args["partition-ms"]));
    if (args["verify-every"] !== undefined) set("verifyEvery", Number(args["verify-every"]));
    if (args["no-partition"]) set("partition", false);
    if (args["before-fixes"]) {
      set("heartbeatJob", "together");
      set("repairRelay", false);
      set("drain", "log-pages");
    }
    if (args["repair-sync"]) set("repairRelay", false);
    if (args.heartbeat === "per-peer" || args.heartbeat === "together") {
      set("heartbeatJob", args.heartbeat);
    }
    if (args.drain === "target-pages" || args.drain === "log-pages") set("drain", args.drain);
    const started = performance.now();
    const progress = (line: string) => console.error(`[${agents} agents] ${line}`);
    const result = await simulate(scenarioFor(agents, overrides), progress);
    const figures = runFigures(result, performance.now() - started, peakRssMb());
    console.log(args.json ? JSON.stringify(figures) : formatRun(figures));
  }
}
if (!args.json) console.log(formatTargets(sizes));
