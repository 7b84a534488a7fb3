/**
 * Writes what the stored runs (bench/results/*.json) say: the SVG charts into docs/images/ and
 * the generated blocks of docs/performance.md (only between their markers).
 */
import { benchCharts, type Runs } from "./_bench_charts.ts";
import { replaceAllMarked } from "./_markers.ts";
import {
  convergenceBlock,
  millionBlock,
  propagationBlock,
  reconciliationBlock,
  runsBlock,
  type StoredRun,
  summaryBlock,
} from "./_report.ts";

/** The stored runs of the full set in `dir`, by step id. */
export async function readRuns(dir: string): Promise<Runs> {
  const runs: Record<string, StoredRun> = {};
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".json")) continue;
    const run = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)) as StoredRun;
    runs[run.id] = run;
  }
  return runs;
}

/** Writes every chart the runs allow; returns the files written. */
export async function writeCharts(dir: string, imagesDir: string): Promise<string[]> {
  const charts = benchCharts(await readRuns(dir));
  await Deno.mkdir(imagesDir, { recursive: true });
  const files = Object.entries(charts).map(([name]) => `${imagesDir}/${name}`);
  for (const [name, svg] of Object.entries(charts)) {
    await Deno.writeTextFile(`${imagesDir}/${name}`, svg);
  }
  // `deno fmt` formats SVG too: leave the files as it would, so that `deno fmt --check` passes.
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", ...files],
    cwd: new URL("../", import.meta.url),
  }).output();
  if (!fmt.success) {
    throw new Error(`deno fmt refused the charts: ${new TextDecoder().decode(fmt.stderr)}`);
  }
  return Object.keys(charts);
}

/** The generated blocks of docs/performance.md, by marker name. */
export function docBlocks(runs: Runs, charts: readonly string[]): Record<string, string> {
  const all = Object.values(runs).filter((r): r is StoredRun => r !== undefined)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return {
    summary: summaryBlock(runs, charts),
    propagation: propagationBlock(runs.field),
    reconciliation: reconciliationBlock(runs.reconcile_field),
    convergence: convergenceBlock([runs.simulate, runs.simulate_1m]),
    million_region: millionBlock(runs.million_region),
    runs: runsBlock(all),
  };
}

/** Markdown as `deno fmt` leaves it (tables aligned), so that `deno fmt --check` stays clean. */
async function formatted(markdown: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: new URL("../", import.meta.url), // this repo's deno.json: lineWidth 100
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(markdown));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error("deno fmt refused a generated block");
  return new TextDecoder().decode(out.stdout);
}

/** Rewrites the generated blocks of `docPath` from the runs in `dir`. */
export async function writeDocs(dir: string, docPath: string) {
  const runs = await readRuns(dir);
  const blocks = docBlocks(runs, Object.keys(benchCharts(runs)));
  for (const name of Object.keys(blocks)) blocks[name] = await formatted(blocks[name]);
  const before = await Deno.readTextFile(docPath);
  const { doc, missing } = replaceAllMarked(before, blocks);
  if (doc !== before) await Deno.writeTextFile(docPath, doc);
  return { written: Object.keys(blocks).filter((b) => !missing.includes(b)), missing };
}
