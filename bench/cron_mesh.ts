/**
 * Jobs on a one-minute trigger plus agent traffic (issue 13): partition detection and heal in a
 * mesh whose jobs nothing runs but `POST /v1/jobs/tick` once a minute and the pushes agents send
 * (test/support/cron_scenario.ts: three in-process regions, simulated clock, so the minute is
 * simulated as is, not scaled down; one instance per region).
 *
 *   deno run -A bench/cron_mesh.ts [--runs 3]
 *
 * Each row is one setting; figures are simulated seconds (median of the runs, the runs' range
 * in brackets), visibility is the p50 / max of the marked pushes before the cut.
 */
import { parseArgs } from "node:util";
import { type CronFigures, runCronScenario } from "../test/support/cron_scenario.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "3" } },
});
const runs = Number(values.runs);

const ROWS = [
  {
    name: "trigger 60 s + a push per region every 10 s; heartbeat 60 s, lease 150 s",
    o: { heartbeatMs: 60_000, leaseTtlMs: 150_000, pushEveryMs: 10_000 },
  },
  {
    name: "trigger 60 s, no traffic; heartbeat 60 s, lease 150 s",
    o: { heartbeatMs: 60_000, leaseTtlMs: 150_000, pushEveryMs: null },
  },
  {
    name: "trigger 60 s + a push per region every 10 s; defaults (heartbeat 250 ms, lease 3 s)",
    o: { heartbeatMs: 250, leaseTtlMs: 3_000, pushEveryMs: 10_000 },
  },
];

const s = (ms: number | null) => ms === null ? "never" : (ms / 1000).toFixed(0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (xs: (number | null)[]) => {
  const known = xs.filter((x): x is number => x !== null);
  if (known.length < xs.length) return `${s(known.length ? median(known) : null)} (some never)`;
  return `${s(median(known))} [${s(Math.min(...known))}–${s(Math.max(...known))}]`;
};

console.log(`load ${(await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ")}`);
for (const row of ROWS) {
  const figures: CronFigures[] = [];
  const started = performance.now();
  for (let run = 0; run < runs; run++) {
    figures.push(
      await runCronScenario({
        tickMs: 60_000,
        cutAfterTickMs: 7_000 + run * 19_000, // the cut falls at different points of the minute
        partitionMs: 300_000,
        writesPerSide: 500,
        ...row.o,
      }),
    );
  }
  const vis = figures.flatMap((f) => f.visibilityMs);
  console.log(
    `${row.name}: visibility eu-2 → us-1 p50 ${s(median(vis))} s, max ${s(Math.max(...vis))} s; ` +
      `cut-off region reports minority after ${summary(figures.map((f) => f.minorityMs))} s; ` +
      `others drop it after ${summary(figures.map((f) => f.othersDropMs))} s; ` +
      `heal → equal sets after ${summary(figures.map((f) => f.healMs))} s; ` +
      `false minority ${figures.reduce((n, f) => n + f.falseAlarms, 0)} of ` +
      `${figures.reduce((n, f) => n + f.looks, 0)} looks before the cut ` +
      `(${((performance.now() - started) / 1000).toFixed(0)} s of real time)`,
  );
}
