/**
 * The agent registry at scale (issue 10): loads N signed cards (default 1,000,000), each by its
 * own author, into one region's embedded Deno KV store through the real ingest path — `ingest()`
 * (parse, verify, store) then the registry's `onStored` (liveness and the discovery index), as a
 * push does — and measures the announce rate; then discovery latency by tag, by skill, by text
 * and by skill + tag through the region app (`app.request`), the bench process's RSS after GC;
 * then starts a real region process (`main.ts`) on the same store and measures discovery over
 * HTTP and that process's RSS.
 *
 *   deno run -A --v8-flags=--expose-gc bench/registry.ts [--cards N] [--queries Q] [--dir DIR]
 *
 * `--dir` keeps the store there (default: a temp dir, removed at the end); with an existing
 * store there and `--reuse`, the load is skipped; `--from N` resumes a load cut short after N
 * cards (the store of `--dir` holds cards 0 … N − 1 of the same seed). Figures:
 * docs/performance.md.
 */
import type { Hono } from "hono";
import { verifyEd25519 } from "../src/crypto/mod.ts";
import { meshRegionApp } from "../src/compose/mesh_region_app.ts";
import { ingest } from "../src/region/ingest.ts";
import { Registry } from "../src/registry/registry.ts";
import { DenoKvStore } from "../src/store/deno_kv_store.ts";
import { Rng } from "../test/support/seeded_rng.ts";
import { freePort } from "../test/support/region_process.ts";
import { signedCard, SKILL_IDS, TAGS, WORDS, zipfTag } from "./_registry_cards.ts";

const REGION = "bench-1";
/** Cards signed and ingested per push (one `ingest()` and one `onStored`). */
const BATCH_CARDS = 500;
/** Cards signed at once (WebCrypto runs them on its thread pool). */
const SIGN_CONCURRENCY = 100;

/** `--name value` of the command line, or `fallback`. */
function option(name: string, fallback?: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}
const cardsTotal = Number(option("cards", "1000000"));
const queriesPerKind = Number(option("queries", "2000"));
const seed = Number(option("seed", "10"));
const keepDir = option("dir");
const reuse = Deno.args.includes("--reuse");
/** Cards the store in `--dir` already holds (cards 0 … from − 1 of this seed): the load resumes. */
const from0 = Number(option("from", "0"));
if (from0 > 0 && keepDir === undefined) throw new Error("--from resumes the store of --dir");
/** Sizes at which the load pauses to measure (and the end); default every 100,000 cards. */
const checkpointEvery = Number(option("checkpoint-every", "100000"));
const checkpointQueries = Number(option("checkpoint-queries", "500"));
const dir = keepDir ?? await Deno.makeTempDir({ prefix: "mesh-bench-registry-" });
await Deno.mkdir(dir, { recursive: true });
const kvPath = `${dir}/${REGION}.kv`;

const log = (line: string) => console.log(`[${new Date().toISOString()}] ${line}`);
const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

async function signBatch(from: number, count: number) {
  const out = [];
  for (let i = 0; i < count; i += SIGN_CONCURRENCY) {
    const n = Math.min(SIGN_CONCURRENCY, count - i);
    const now = Date.now();
    out.push(
      ...await Promise.all(
        Array.from({ length: n }, (_, k) => signedCard(seed, from + i + k, now)),
      ),
    );
  }
  return out;
}

/**
 * Loads the cards; the announce rate (cards per second) of the ingest path alone and overall.
 * Pauses at every `checkpointEvery` cards to measure, so a run cut short still has figures.
 */
async function load(store: DenoKvStore, registry: Registry, app: Hono) {
  let ingestMs = 0, indexMs = 0, pausedMs = 0;
  const started = performance.now();
  let next = signBatch(from0, Math.min(BATCH_CARDS, cardsTotal - from0));
  for (let from = from0; from < cardsTotal; from += BATCH_CARDS) {
    const batch = await next;
    const after = from + BATCH_CARDS;
    if (after < cardsTotal) next = signBatch(after, Math.min(BATCH_CARDS, cardsTotal - after));
    const t0 = performance.now();
    const outcome = await ingest(batch, store, verifyEd25519, Date.now());
    const t1 = performance.now();
    await registry.onStored(outcome.accepted, null);
    ingestMs += t1 - t0;
    indexMs += performance.now() - t1;
    const refused = outcome.results.filter((r) => r.status !== "accepted");
    if (refused.length > 0) throw new Error(`refused: ${JSON.stringify(refused[0])}`);
    if (after % checkpointEvery === 0 && after < cardsTotal) {
      const paused = performance.now();
      await checkpoint(after, app, checkpointQueries);
      pausedMs += performance.now() - paused;
    }
    if (after % 10_000 === 0 || after >= cardsTotal) {
      const s = (performance.now() - started - pausedMs) / 1000;
      log(
        `${Math.min(after, cardsTotal)} cards (${after - from0} loaded) in ${s.toFixed(0)} s: ` +
          `${((after - from0) / s).toFixed(0)} cards/s overall, ` +
          `${((after - from0) / ((ingestMs + indexMs) / 1000)).toFixed(0)} cards/s in ingest + ` +
          `index ` +
          `(ingest ${(ingestMs / 1000).toFixed(0)} s, onStored ${
            (indexMs / 1000).toFixed(0)
          } s), ` +
          `rss ${mb(Deno.memoryUsage().rss)} MB`,
      );
    }
  }
  const rest = await registry.indexer.catchUp();
  await registry.liveness.flush(Date.now());
  const totalS = (performance.now() - started - pausedMs) / 1000;
  const loaded = cardsTotal - from0;
  return {
    cards: cardsTotal,
    from: from0,
    totalS: Math.round(totalS),
    overallPerS: Math.round(loaded / totalS),
    ingestPerS: Math.round(loaded / ((ingestMs + indexMs) / 1000)),
    ingestS: Math.round(ingestMs / 1000),
    onStoredS: Math.round(indexMs / 1000),
    leftToIndex: rest.deltas,
  };
}

type Kind = "tag" | "skill" | "text" | "skill+tag";

/** A random query of `kind`: tags uniform over all 500 (rare ones included), skills uniform. */
function query(rng: Rng, kind: Kind): string {
  const p = new URLSearchParams();
  if (kind === "tag") p.set("tag", rng.pick(TAGS));
  if (kind === "skill" || kind === "skill+tag") p.set("skill", rng.pick(SKILL_IDS));
  if (kind === "skill+tag") p.set("tag", zipfTag(rng));
  if (kind === "text") p.set("q", `${rng.pick(WORDS)} ${rng.pick(WORDS)}`);
  return `/v1/agents?${p}`;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/** p50/p99/max (ms) and mean results of `queriesPerKind` random queries of each kind. */
async function measure(get: (path: string) => Promise<Response>, queries = queriesPerKind) {
  const rng = new Rng(seed + 1);
  const out: Record<string, unknown> = {};
  for (const kind of ["tag", "skill", "text", "skill+tag"] as const) {
    for (let i = 0; i < 50; i++) await (await get(query(rng, kind))).arrayBuffer(); // warm-up
    const ms: number[] = [];
    let results = 0;
    for (let i = 0; i < queries; i++) {
      const path = query(rng, kind);
      const t0 = performance.now();
      const response = await get(path);
      const body = await response.json();
      ms.push(performance.now() - t0);
      if (response.status !== 200) throw new Error(`${path}: ${JSON.stringify(body)}`);
      results += body.agents.length;
    }
    ms.sort((a, b) => a - b);
    out[kind] = {
      p50: +percentile(ms, 0.5).toFixed(2),
      p99: +percentile(ms, 0.99).toFixed(2),
      max: +ms.at(-1)!.toFixed(2),
      meanResults: +(results / queries).toFixed(1),
    };
    log(`${kind}: ${JSON.stringify(out[kind])}`);
  }
  return out;
}

function rssAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return Deno.memoryUsage().rss;
}

/** Figures at `cards` cards: in-process latency, the bench's RSS, a region process's. */
async function checkpoint(cards: number, app: Hono, queries: number) {
  await registry.liveness.flush(Date.now());
  log(`checkpoint at ${cards} cards (${queries} queries per kind), in process:`);
  const inProcess = await measure(async (path) => await app.request(path), queries);
  const benchRss = mb(rssAfterGc());
  log(`checkpoint at ${cards}: bench process rss after GC ${benchRss} MB; region process:`);
  const process = await regionProcess(queries);
  log(`checkpoint at ${cards}: ${JSON.stringify({ cards, inProcess, benchRss, process })}`);
}

async function regionProcess(queries = queriesPerKind) {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: new URL("../", import.meta.url),
    env: { MESH_DATA: dir, MESH_REGION: REGION, PORT: String(port), NO_COLOR: "1" },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0;; i++) {
    try {
      const r = await fetch(`${url}/v1/health`);
      await r.body?.cancel();
      if (r.ok) break;
    } catch { /* not yet */ }
    if (i > 600) throw new Error("region process did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const rss = async () => {
    const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
    return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) * 1024;
  };
  const rssStart = await rss();
  const latency = await measure((path) => fetch(url + path), queries);
  const result = { rssAtStartMb: mb(rssStart), rssAfterQueriesMb: mb(await rss()), latency };
  child.kill("SIGTERM");
  await child.status;
  return result;
}

log(`registry bench: ${cardsTotal} cards, store ${kvPath}`);
const store = await DenoKvStore.open(kvPath);
const registry = new Registry({ region: REGION, store });
const app = meshRegionApp({ region: REGION, store, registry });
const loaded = reuse ? null : await load(store, registry, app);
if (loaded !== null) log(`load: ${JSON.stringify(loaded)}`);
const inProcess = await measure(async (path) => await app.request(path));
const benchRss = rssAfterGc();
log(`bench process rss after GC: ${mb(benchRss)} MB`);
await store.close();
const fileMb = mb((await Deno.stat(kvPath)).size);
const process = Deno.args.includes("--no-process") ? null : await regionProcess();
const summary = {
  cards: cardsTotal,
  load: loaded,
  storeFileMb: fileMb,
  inProcess,
  benchRssAfterGcMb: mb(benchRss),
  regionProcess: process,
};
console.log(JSON.stringify(summary, null, 2));
if (keepDir === undefined) await Deno.remove(dir, { recursive: true });
