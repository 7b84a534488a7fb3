/**
 * The charts of docs/performance.md from stored runs: propagation p99 per system, reconciliation
 * bytes and round trips against the difference, convergence rounds against agents, and the
 * million-delta region's RSS over time. Pure: runs in, SVG text by file name out.
 */
import { barChart, lineChart, type Series } from "./_svg.ts";
import {
  type PropagationRow,
  type ReconcileRow,
  rowsWith,
  simulationRows,
  type StoredRun,
} from "./_report.ts";

/** Issue 14's target for a region's RSS with 1M deltas (cards have their own, issue 10's). */
export const RSS_TARGET_MB = 200;

export type Runs = Readonly<Record<string, StoredRun | undefined>>;

/** Published anchor: Negentropy ≈ 1.5 KB and ≈ 3 round trips at 1M ids with one difference. */
const NEGENTROPY_PUBLISHED = { bytes: 1_500, roundTrips: 3 };

export function propagationChart(run: StoredRun | undefined): string | null {
  const rows = rowsWith<{ propagation: PropagationRow[] }>(run, ["propagation"])
    .flatMap((r) => r.propagation);
  if (rows.length === 0) return null;
  const label = (r: PropagationRow) => `${r.system.replace(/, 3 regions$/, "")}: ${r.path}`;
  const groups = [...new Set(rows.map(label))];
  const delays = [...new Set(rows.map((r) => r.addedMs))].sort((a, b) => a - b);
  const value = (g: string, d: number, minus: boolean) => {
    const r = rows.find((x) => label(x) === g && x.addedMs === d);
    return r === undefined ? NaN : r.latency.p99 - (minus ? d : 0);
  };
  const series = delays.flatMap((d) =>
    d === 0 ? [{ name: "p99, no added latency", values: groups.map((g) => value(g, d, false)) }] : [
      { name: `p99, ${d} ms links`, values: groups.map((g) => value(g, d, false)) },
      { name: `p99 − ${d} ms (${d} ms links)`, values: groups.map((g) => value(g, d, true)) },
    ]
  );
  return barChart({
    title: "Propagation A → a subscriber in B: p99 per system",
    y: { label: "p99, ms (log)", log: true },
    groups,
    series,
    note: `${run!.startedAt.slice(0, 10)}, ${run!.machine.cores} cores; ${run!.command}`.slice(
      0,
      110,
    ),
  });
}

function reconcileRows(run: StoredRun | undefined): { ids: number; rows: ReconcileRow[] } | null {
  const rows = rowsWith<ReconcileRow>(run, ["ids", "differences", "scheme", "bytes"]);
  if (rows.length === 0) return null;
  const ids = Math.max(...rows.map((r) => r.ids));
  return { ids, rows: rows.filter((r) => r.ids === ids && !r.scheme.startsWith("full id list")) };
}

function bySchemes(rows: readonly ReconcileRow[], y: (r: ReconcileRow) => number): Series[] {
  const schemes = [...new Set(rows.map((r) => r.scheme))];
  return schemes.map((scheme) => ({
    name: scheme,
    points: rows.filter((r) => r.scheme === scheme)
      .sort((a, b) => a.differences - b.differences)
      .map((r) => [r.differences, y(r)] as const),
    dashed: scheme.includes("v1"),
  }));
}

export function reconcileBytesChart(run: StoredRun | undefined): string | null {
  const data = reconcileRows(run);
  if (data === null) return null;
  const series = bySchemes(data.rows, (r) => r.bytes);
  if (data.ids === 1_000_000) {
    series.push({ name: "Negentropy, published", points: [[1, NEGENTROPY_PUBLISHED.bytes]] });
  }
  return lineChart({
    title: `Reconciliation: bytes both ways, ${data.ids.toLocaleString("en-US")} ids a side`,
    x: { label: "differences (log)", log: true },
    y: { label: "bytes (log)", log: true },
    series,
    note: "Automerge and Yjs carry the changes themselves; the others ids only.",
  });
}

export function reconcileRoundsChart(run: StoredRun | undefined): string | null {
  const data = reconcileRows(run);
  if (data === null) return null;
  const series = bySchemes(data.rows, (r) => r.roundTrips);
  if (data.ids === 1_000_000) {
    series.push({ name: "Negentropy, published", points: [[1, NEGENTROPY_PUBLISHED.roundTrips]] });
  }
  return lineChart({
    title: `Reconciliation: round trips, ${data.ids.toLocaleString("en-US")} ids a side`,
    x: { label: "differences (log)", log: true },
    y: { label: "round trips (log)", log: true },
    series,
    note: "Target of issue 14: at most 4 round trips up to 10% of the set.",
  });
}

export function convergenceChart(runs: readonly (StoredRun | undefined)[]): string | null {
  const rows = simulationRows(runs);
  if (rows.length === 0) return null;
  const line = (name: string, y: (r: (typeof rows)[number]) => number, dashed = false) => ({
    name,
    points: rows.map((r) => [r.agents, y(r)] as const),
    dashed,
  });
  return lineChart({
    title: "Convergence: rounds until every region holds a delta",
    x: { label: "agents (log)", log: true },
    y: { label: "rounds" },
    series: [
      line("ours, p50", (r) => r.rounds.steady.p50),
      line("ours, p99", (r) => r.rounds.steady.p99),
      line("Serf simulator formula", (r) => r.serf.formulaRounds, true),
      line("push gossip model, last node", (r) => r.serf.pushRoundsLast, true),
    ],
    bands: [{
      name: "seeds' target",
      ranges: rows.filter((r) => r.target !== null)
        .map((r) => ({ x: r.agents, lo: r.target![0], hi: r.target![1] })),
    }],
    note: "Serf's figures are models of it (docs/simulation.md); ours: the seeded simulation.",
  });
}

export function millionRssChart(run: StoredRun | undefined): string | null {
  const [m] = rowsWith<{
    timeline: { mb: [number, number][]; marks: { name: string; s: number }[] };
    rate: number;
    store: { deltas: number; cards: number };
  }>(run, ["timeline", "store"]);
  if (m === undefined) return null;
  const marks = m.timeline.marks.map((k) => `${k.name} ${Math.round(k.s)} s`).join(", ");
  return lineChart({
    title: `A region holding ${m.store.deltas.toLocaleString("en-US")} deltas and ${
      m.store.cards.toLocaleString("en-US")
    } cards: VmRSS`,
    x: { label: "seconds since the process started" },
    y: { label: "VmRSS, MB" },
    series: [
      { name: "region VmRSS", points: m.timeline.mb },
      {
        name: `${RSS_TARGET_MB} MB (issue 14's target)`,
        points: [[0, RSS_TARGET_MB], [m.timeline.mb.at(-1)?.[0] ?? 1, RSS_TARGET_MB]],
        dashed: true,
      },
    ],
    note: `Marks: ${marks}; load ${m.rate} pushes/s after "settled".`,
  });
}

/** Every chart the runs allow, by file name under docs/images/. */
export function benchCharts(runs: Runs): Record<string, string> {
  const charts: Record<string, string | null> = {
    "bench_propagation_p99.svg": propagationChart(runs.field),
    "bench_reconcile_bytes.svg": reconcileBytesChart(runs.reconcile_field),
    "bench_reconcile_rounds.svg": reconcileRoundsChart(runs.reconcile_field),
    "bench_convergence_rounds.svg": convergenceChart([runs.simulate, runs.simulate_1m]),
    "bench_million_region_rss.svg": millionRssChart(runs.million_region),
  };
  return Object.fromEntries(
    Object.entries(charts).filter((e): e is [string, string] => e[1] !== null),
  );
}
