/**
 * The generated blocks of docs/performance.md, from stored runs (bench/results/*.json): Markdown
 * tables with the command, machine, date and load of the run they come from. Pure.
 */
import { type Machine, machineLine } from "./_machine.ts";

/** One step's run as scripts/bench.ts stores it. */
export interface StoredRun {
  readonly id: string;
  readonly set: string;
  readonly what: string;
  readonly command: string;
  readonly startedAt: string;
  readonly machine: Machine;
  readonly status: "ok" | "failed" | "skipped";
  readonly reason?: string;
  readonly durationS: number;
  /** 1-minute load average before and after. */
  readonly load: readonly [number, number];
  readonly results: unknown[];
  /** Lines of plain text the step printed (its figures, when it prints no JSON). */
  readonly text?: readonly string[];
  /** Where figures not measured by this run come from (figures copied from an earlier run). */
  readonly source?: string;
}

// Shapes of the results used here (the scripts print more).
export interface PropagationRow {
  system: string;
  path: string;
  addedMs: number;
  latency: { p50: number; p99: number; lost: number };
  load: number[];
}
export interface ReconcileRow {
  ids: number;
  differences: number;
  scheme: string;
  roundTrips: number;
  bytes: number;
  bytesPerDifference: number;
  cpuMs: number;
  vsList?: number;
  takenFrom?: string;
}
export type Spread = { p50: number; p99: number; max: number };
export interface SimulationRow {
  agents: number;
  regions: number;
  zones: number;
  rounds: { steady: Spread };
  convergeS: { steady: Spread };
  target: [number, number] | null;
  serf: { formulaRounds: number; pushRounds9999: number; pushRoundsLast: number };
  wall: { totalS: number; peakRssMb: number };
  takenFrom?: string;
}

const n = (x: number) => Number.isFinite(x) ? x.toLocaleString("en-US") : "—";
const ms = (x: number) => !Number.isFinite(x) ? "—" : x >= 100 ? x.toFixed(0) : x.toFixed(1);

/** The objects of `run` that have every key of `keys`. */
export function rowsWith<T>(run: StoredRun | undefined, keys: readonly string[]): T[] {
  return (run?.results ?? []).filter((r): r is T =>
    typeof r === "object" && r !== null && keys.every((k) => k in r)
  );
}

/** The line above a generated table: command, machine, date, load, status. */
export function provenance(run: StoredRun): string {
  const lines = [
    `Command: \`${run.command}\` (${run.set} set). Machine: ${machineLine(run.machine)}.`,
    `Run ${run.startedAt.slice(0, 16).replace("T", " ")} UTC, ${run.durationS} s, load average ${
      run.load.join(" → ")
    }${run.status === "ok" ? "" : `, **${run.status}**${run.reason ? `: ${run.reason}` : ""}`}.`,
  ];
  if (run.source !== undefined) lines.push(run.source);
  return lines.join("\n");
}

export function propagationBlock(run: StoredRun | undefined): string {
  if (run === undefined) return "_No stored run of `field`._";
  const reports = rowsWith<{ propagation: PropagationRow[] }>(run, ["propagation"]);
  const rows = reports.flatMap((r) => r.propagation);
  const lines = [
    provenance(run),
    "",
    "| system | path | added one-way | p50 ms | p99 ms | p99 − added | lost | load |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.system} | ${r.path} | ${r.addedMs} ms | ${ms(r.latency.p50)} | ${
        ms(r.latency.p99)
      } | ${ms(r.latency.p99 - r.addedMs)} | ${r.latency.lost} | ${r.load.join("→")} |`
    ),
  ];
  return lines.join("\n");
}

export function reconciliationBlock(run: StoredRun | undefined): string {
  if (run === undefined) return "_No stored run of `reconcile_field`._";
  const rows = rowsWith<ReconcileRow>(run, ["ids", "differences", "scheme", "bytes"]);
  const taken = rows.some((r) => r.takenFrom !== undefined);
  return [
    provenance(run),
    "",
    "| ids a side | d | scheme | round trips | bytes | B / difference | CPU ms | ×list |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${n(r.ids)}${r.takenFrom ? " ¹" : ""} | ${n(r.differences)} | ${r.scheme} | ${
        n(r.roundTrips)
      } | ${n(r.bytes)} | ${n(r.bytesPerDifference)} | ${n(r.cpuMs)} | ${r.vsList ?? ""} |`
    ),
    ...(taken ? ["", `¹ ${rows.find((r) => r.takenFrom)!.takenFrom}`] : []),
  ].join("\n");
}

export function simulationRows(runs: readonly (StoredRun | undefined)[]): SimulationRow[] {
  const rows = runs.flatMap((run) => rowsWith<SimulationRow>(run, ["agents", "rounds", "serf"]));
  const byAgents = new Map(rows.map((r) => [r.agents, r]));
  return [...byAgents.values()].sort((a, b) => a.agents - b.agents);
}

export function convergenceBlock(runs: readonly (StoredRun | undefined)[]): string {
  const present = runs.filter((r): r is StoredRun => r !== undefined);
  if (present.length === 0) return "_No stored run of `simulate`._";
  const rows = simulationRows(present);
  const spread = (s: Spread) => `${s.p50} / ${s.p99} / ${s.max}`;
  const notes = [...new Set(rows.map((r) => r.takenFrom).filter((t) => t !== undefined))];
  return [
    present.map(provenance).join("\n\n"),
    "",
    "| agents | regions (zones) | rounds p50 / p99 / max | seeds' target | Serf formula | push gossip, last node | converge s p50 / p99 / max | wall s | peak RSS MB |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${n(r.agents)}${r.takenFrom ? " ¹" : ""} | ${r.regions} (${r.zones}) | ${
        spread(r.rounds.steady)
      } | ${
        r.target ? `${r.target[0]}–${r.target[1]}` : "–"
      } | ${r.serf.formulaRounds} | ${r.serf.pushRoundsLast} | ${spread(r.convergeS.steady)} | ${
        n(r.wall.totalS)
      } | ${n(r.wall.peakRssMb)} |`
    ),
    ...notes.map((t) => `\n¹ ${t}`),
  ].join("\n");
}

interface MillionResult {
  rate: number;
  seconds: number;
  store: { deltas: number; cards: number; channels: number; fileMb: number; logEntries: number };
  rssMb: {
    start: number;
    settled: number;
    peakDuringLoad: number;
    end: number;
    peakOverall: number;
  };
  heapMb: { usedAfterLastFullMb: number; committedAfterLastFullMb: number; usedMaxMb: number };
  settleS: number;
  pushes: { sent: number; ok: number; shed?: number; p50Ms: number; p99Ms: number };
  viewReads: { sent: number; ok: number; p50Ms: number; p99Ms: number };
  queries: { sent: number; ok: number; p50Ms: number; p99Ms: number };
}

export function millionBlock(run: StoredRun | undefined): string {
  if (run === undefined) return "_No stored run of `million_region`._";
  const [m] = rowsWith<MillionResult>(run, ["rssMb", "store"]);
  if (m === undefined) return provenance(run);
  const load = (name: string, l: MillionResult["pushes"]) =>
    `| ${name} | ${n(l.sent)} | ${n(l.ok)} | ${n(l.shed ?? 0)} | ${l.p50Ms} | ${l.p99Ms} |`;
  return [
    provenance(run),
    "",
    `Store: ${n(m.store.deltas)} deltas in ${n(m.store.channels)} channels + ${
      n(m.store.cards)
    } cards (${n(m.store.logEntries)} region-log entries at the start), ${n(m.store.fileMb)} MB.`,
    "",
    "| VmRSS, MB | at start (health) | settled (index built) | peak under load | at the end | peak overall | JS heap after last full GC (committed) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    `| region process | ${m.rssMb.start} | ${m.rssMb.settled} (after ${m.settleS} s) | ${m.rssMb.peakDuringLoad} | ${m.rssMb.end} | ${m.rssMb.peakOverall} | ${m.heapMb.usedAfterLastFullMb} (${m.heapMb.committedAfterLastFullMb}) |`,
    "",
    `| load for ${m.seconds} s | sent | ok | shed (64 in flight) | p50 ms | p99 ms |`,
    "| --- | --- | --- | --- | --- | --- |",
    load(`pushes (${m.rate}/s, one delta each)`, m.pushes),
    load("view reads", m.viewReads),
    load("discovery queries", m.queries),
  ].join("\n");
}

export function runsBlock(runs: readonly StoredRun[]): string {
  return [
    "| step | what | status | s | run (UTC) | load | command |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...runs.map((r) =>
      `| ${r.id} | ${r.what} | ${r.status}${
        r.source ? " (figures copied)" : ""
      } | ${r.durationS} | ${r.startedAt.slice(0, 16).replace("T", " ")} | ${
        r.load.join("→")
      } | \`${r.command}\` |`
    ),
  ].join("\n");
}

/** One line of what a run found, for the console summary. */
export function headline(run: StoredRun): string {
  const first = run.results[0] as Record<string, unknown> | undefined;
  if (first === undefined) {
    const text = run.text ?? [];
    return text.length === 0 ? "no output" : text.slice(-2).join(" | ");
  }
  if (run.id === "field") {
    const rows = rowsWith<{ propagation: PropagationRow[] }>(run, ["propagation"])
      .flatMap((r) => r.propagation);
    return rows.map((r) =>
      `${r.system}, ${r.path}, +${r.addedMs} ms: p50 ${ms(r.latency.p50)} p99 ${ms(r.latency.p99)}`
    ).join("; ");
  }
  if (run.id === "hop_floor") {
    const [floor] = rowsWith<{ visible_ms: Spread }>(run, ["visible_ms"]);
    if (floor === undefined) return "no result";
    return `floor visible p50 ${ms(floor.visible_ms.p50)} p99 ${ms(floor.visible_ms.p99)} ms`;
  }
  if (run.id === "hop" || run.id === "hop_pair") {
    const [hop] = rowsWith<{ routes: Record<string, { visible_ms: Spread }> }>(run, ["routes"]);
    return Object.entries(hop?.routes ?? {}).map(([route, r]) =>
      `${route} visible p50 ${ms(r.visible_ms.p50)} p99 ${ms(r.visible_ms.p99)} ms`
    ).join("; ");
  }
  if (run.id === "hot_path") {
    const f = first as {
      hot_path_per_s: number;
      bare_webcrypto_verify_per_s: number;
      ratio: number;
    };
    return `hot path ${n(f.hot_path_per_s)}/s, bare verify ${
      n(f.bare_webcrypto_verify_per_s)
    }/s, ratio ${f.ratio}`;
  }
  if (run.id.startsWith("simulate")) {
    return simulationRows([run]).map((r) =>
      `${n(r.agents)} agents: rounds ${r.rounds.steady.p50}/${r.rounds.steady.p99}`
    ).join("; ");
  }
  if (run.id === "reconcile_field") {
    return rowsWith<ReconcileRow>(run, ["scheme"]).filter((r) => r.scheme.startsWith("ours v2"))
      .map((r) => `${n(r.ids)}/${n(r.differences)}: ${r.roundTrips} rt ${n(r.bytes)} B`).join("; ");
  }
  return JSON.stringify(first).slice(0, 160);
}

const CHART_TITLES: Readonly<Record<string, string>> = {
  "bench_propagation_p99.svg": "Propagation p99 per system",
  "bench_reconcile_bytes.svg": "Reconciliation bytes vs difference",
  "bench_reconcile_rounds.svg": "Reconciliation round trips vs difference",
  "bench_convergence_rounds.svg": "Convergence rounds vs agents",
  "bench_million_region_rss.svg": "RSS of a region holding 1M deltas and 1M cards",
};

function propagationSummary(run: StoredRun | undefined): string[] {
  const rows = rowsWith<{ propagation: PropagationRow[] }>(run, ["propagation"])
    .flatMap((r) => r.propagation);
  const delays = [...new Set(rows.map((r) => r.addedMs))];
  return delays.map((d) => {
    const at = rows.filter((r) => r.addedMs === d && !r.path.endsWith("→ all"));
    const ours = at.find((r) => r.path.startsWith("push"));
    const parts = at.map((r) => {
      const vs = ours && r !== ours
        ? ` (${(r.latency.p50 / ours.latency.p50).toFixed(2)}× ours)`
        : "";
      return `${r.system.replace(/, 3 (regions|clusters|peers)$/, "")} ${r.path.split(" →")[0]} ${
        ms(r.latency.p50)
      } / ${ms(r.latency.p99)}${vs}`;
    });
    return `- Propagation A → B, ${d} ms links, p50 / p99 ms: ${parts.join("; ")}.`;
  });
}

function reconcileSummary(run: StoredRun | undefined): string[] {
  const rows = rowsWith<ReconcileRow>(run, ["ids", "differences", "scheme", "bytes"]);
  if (rows.length === 0) return [];
  const ids = Math.max(...rows.map((r) => r.ids));
  const at = rows.filter((r) => r.ids === ids);
  const ds = [...new Set(at.map((r) => r.differences))].sort((a, b) => a - b);
  const cell = (d: number, scheme: string) => {
    const r = at.find((x) => x.differences === d && x.scheme.startsWith(scheme));
    return r ? `${r.roundTrips} rt, ${n(r.bytes)} B` : "—";
  };
  return [
    `- Reconciliation at ${n(ids)} ids a side, ours v2 against Negentropy: ${
      ds.map((d) => `d = ${n(d)}: ${cell(d, "ours v2")} against ${cell(d, "Negentropy")}`)
        .join("; ")
    }.`,
  ];
}

function convergenceSummary(runs: readonly (StoredRun | undefined)[]): string[] {
  const rows = simulationRows(runs);
  if (rows.length === 0) return [];
  return [
    `- Convergence rounds p50 / p99 (seeds' target; Serf formula): ${
      rows.map((r) =>
        `${n(r.agents)} agents ${r.rounds.steady.p50} / ${r.rounds.steady.p99} (${
          r.target ? `${r.target[0]}–${r.target[1]}` : "–"
        }; ${r.serf.formulaRounds})`
      ).join(", ")
    }.`,
  ];
}

function millionSummary(run: StoredRun | undefined): string[] {
  const [m] = rowsWith<MillionResult>(run, ["rssMb", "store"]);
  if (m === undefined) return [];
  return [
    `- One region holding ${n(m.store.deltas)} deltas and ${
      n(m.store.cards)
    } cards, ${m.rate} pushes/s: VmRSS ${m.rssMb.start} MB at start, ${m.rssMb.settled} MB with its index built, ${m.rssMb.peakDuringLoad} MB peak under load, ${m.rssMb.end} MB at the end (pushes p50 / p99 ${m.pushes.p50Ms} / ${m.pushes.p99Ms} ms); issue 14's target is ≤ 200 MB for the deltas (see the section for a baseline and where the memory goes).`,
  ];
}

/** The summary near the top of performance.md: latest figures and the charts. */
export function summaryBlock(
  runs: Readonly<Record<string, StoredRun | undefined>>,
  charts: readonly string[],
): string {
  const all = Object.values(runs).filter((r): r is StoredRun => r !== undefined);
  if (all.length === 0) return "_No stored runs in bench/results/._";
  const dates = all.map((r) => r.startedAt.slice(0, 10)).sort();
  return [
    `Generated by \`deno task bench:full\` (or \`deno task bench:charts\` from the stored results in ` +
    `\`bench/results/\`) from runs of ${dates[0]} to ${dates.at(-1)} on ${
      machineLine(all[0].machine)
    }; ` +
    `each table below says its command, date and load.`,
    "",
    ...propagationSummary(runs.field),
    ...reconcileSummary(runs.reconcile_field),
    ...convergenceSummary([runs.simulate, runs.simulate_1m]),
    ...millionSummary(runs.million_region),
    "",
    `Charts (SVG, drawn by \`bench/_svg.ts\` from the stored results): ${
      charts.map((c) => `[${CHART_TITLES[c] ?? c}](images/${c})`).join(", ")
    }.`,
  ].join("\n");
}
