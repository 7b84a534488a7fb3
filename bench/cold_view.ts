/**
 * Cold instances (issue 13): the first view of a channel of 1,000,000 deltas on a fresh process,
 * with and without a view checkpoint, on a Deno KV file. The channel is filled once (unsigned
 * records straight into the store: views do not verify, ingest did): 100 authors, each delta sets
 * one of 500 keys, adds an element to a set and removes the author's previous add (an observed
 * remove), and increments a counter — a state of a few hundred entries whatever the history.
 * `--workload kept` never removes: every add's tag stays live, so the state (and the checkpoint)
 * grows with the history — the case checkpoints do not make small.
 *
 *   deno run -A bench/cold_view.ts [--deltas 1000000] [--tail 1000] [--rounds 3]
 *     [--workload churn|kept] [--dir /tmp/cold_view] [--before /path/to/older/tree]
 *
 * Steps: fill (up to `--deltas`; a file holding more is used as it is), write a checkpoint (timed;
 * the job folds from the previous checkpoint when there is one, else from every arrival),
 * then `rounds` rounds of fresh processes — each opens the file, builds the region app and
 * answers `GET /v1/channels/bench` once, timing the answer and sampling RSS every 5 ms — first with
 * nothing after the checkpoint, then after `--tail` more deltas (the most the job lets pile up
 * before the next checkpoint is due). Modes per round: `store` (checkpoints off: every arrival
 * folded), `checkpoint`, and with `--before`, the code of an older tree (`git archive`), which has
 * no checkpoints. Every mode must answer the same view text (checked by SHA-256). Last, the
 * checkpoint is written again by a fresh job (from the checkpoint and the tail), timed.
 *
 * Prints one JSON line per measurement, then a summary line.
 */
import { parseArgs } from "node:util";
import { encodeBase64Url } from "../src/protocol/base64url.ts";
import { deltaId, type Op } from "../src/protocol/delta.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import type { RegionStore, StoredDelta } from "../src/store/region_store.ts";

const CHANNEL = "bench";
const AUTHORS = 100;
const PUT_BATCH_DELTAS = 1_000;
const RSS_SAMPLE_MS = 5;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    deltas: { type: "string", default: "1000000" },
    tail: { type: "string", default: "1000" },
    workload: { type: "string", default: "churn" },
    rounds: { type: "string", default: "3" },
    dir: { type: "string", default: "/tmp/cold_view" },
    before: { type: "string" },
    child: { type: "string" }, // internal: the mode of a reader process
    root: { type: "string" }, // internal: the tree a reader imports
  },
});
const kvPath = `${values.dir}/region.kv`;
/** Every add stays live (`--workload kept`). */
const KEPT = values.workload === "kept";
/** This tree, for the readers of the current code. */
const HERE = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function author(n: number): string {
  const bytes = new Uint8Array(32);
  new DataView(bytes.buffer).setUint32(0, n + 1);
  return encodeBase64Url(bytes);
}

/** Makes the deltas of the workload in order, remembering each author's seq and last add. */
class Workload {
  readonly #seqs = new Array<number>(AUTHORS).fill(0);
  readonly #lastAdd = new Array<{ elem: string; tag: string } | null>(AUTHORS).fill(null);
  #made = 0;

  constructor(made = 0) {
    for (let i = 0; i < made; i++) this.next(); // replay to know seqs and last adds
  }

  next(): StoredDelta {
    const n = this.#made++ % AUTHORS;
    const seq = ++this.#seqs[n];
    const elem = `e${(n * 13 + seq) % 200}`;
    const ops: Op[] = [
      { op: "set", key: `k${(n * 7 + seq) % 500}`, value: seq },
      { op: "add", set: "s", elem },
      { op: "inc", counter: "c", by: 1 },
    ];
    const last = this.#lastAdd[n];
    if (last !== null && !KEPT) {
      ops.push({ op: "rmv", set: "s", elem: last.elem, tags: [last.tag] });
    }
    const body = JSON.stringify({
      v: 1,
      author: author(n),
      seq,
      channel: CHANNEL,
      ts: 1_700_000_000_000 + this.#made,
      lc: 0,
      ops,
    });
    const id = deltaId(utf8Encode(body));
    this.#lastAdd[n] = { elem, tag: `${id}:1` };
    return { id, channel: CHANNEL, author: author(n), seq, body, sig: "A".repeat(86) };
  }
}

async function append(store: RegionStore, workload: Workload, count: number): Promise<void> {
  for (let done = 0; done < count;) {
    const batch = Array.from(
      { length: Math.min(PUT_BATCH_DELTAS, count - done) },
      () => workload.next(),
    );
    await store.putDeltas(batch);
    done += batch.length;
    if (done % 100_000 === 0) console.error(`stored ${done}/${count}`);
  }
}

/** A reader process: opens the file, folds the channel's view once with the code of `root`. */
async function child(mode: string, root: string): Promise<void> {
  const { DenoKvStore } = await import(`${root}/src/store/deno_kv_store.ts`);
  const { ChannelViews } = await import(await viewsModule(root));
  const { sha256 } = await import("../src/crypto/sha256.ts");
  const openedAt = performance.now();
  const store = await DenoKvStore.open(kvPath);
  await store.arrivalCounts(["warm-up"]);
  const openMs = performance.now() - openedAt;
  // An older tree takes no options: it always folds every arrival.
  const views = new ChannelViews(store, { checkpoints: mode === "checkpoint" });
  const base = Deno.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), RSS_SAMPLE_MS);
  const started = performance.now();
  const read = await views.read(CHANNEL);
  const text: string = read.state.viewText();
  const ms = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, Deno.memoryUsage().rss);
  console.log(JSON.stringify({
    mode,
    ms: Number(ms.toFixed(1)),
    openMs: Number(openMs.toFixed(1)),
    source: read.source ?? "store",
    caughtUp: read.caughtUp,
    baseRssMB: Math.round(base / 2 ** 20),
    addedRssMB: Math.round((peak - base) / 2 ** 20),
    deltas: read.state.size,
    viewSha256: encodeBase64Url(sha256(utf8Encode(text))).slice(0, 16),
  }));
  await store.close();
}

/** Where `root` keeps ChannelViews (src/views/ since the checkpoints; src/region/ before). */
async function viewsModule(root: string): Promise<string> {
  const now = `${root}/src/views/channel_views.ts`;
  try {
    await Deno.stat(now);
    return now;
  } catch {
    return `${root}/src/region/channel_views.ts`;
  }
}

async function spawn(mode: string, root: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename!,
      "--child",
      mode,
      "--root",
      root,
      "--dir",
      values.dir!,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`reader ${mode} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

/** Fills the channel to at least `deltas` arrivals; returns its workload, caught up. */
async function filled(store: RegionStore, deltas: number): Promise<Workload> {
  const [have] = await store.arrivalCounts([CHANNEL]);
  const workload = new Workload(have); // replays what the file holds (the same deltas, in order)
  if (have >= deltas) return workload;
  const started = performance.now();
  await append(store, workload, deltas - have);
  console.error(
    `filled ${deltas - have} in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return workload;
}

/** Writes the channel's checkpoint through the job; returns its figures. */
async function checkpoint(store: RegionStore): Promise<Record<string, unknown>> {
  const { CheckpointJob } = await import("../src/views/checkpoint_job.ts");
  const { listChannels } = await import("../src/views/channel_directory.ts");
  const job = new CheckpointJob({
    region: "cold",
    store,
    instance: "bench",
    channels: (after, limit) => listChannels(store, "", after, limit),
  });
  const started = performance.now();
  const written = await job.write(CHANNEL);
  return { step: "checkpoint", ms: Number((performance.now() - started).toFixed(0)), ...written };
}

async function readRounds(label: string, rounds: number): Promise<Record<string, unknown>[]> {
  const modes: [string, string][] = [["store", HERE], ["checkpoint", HERE]];
  if (values.before !== undefined) modes.unshift(["before", values.before]);
  const rows: Record<string, unknown>[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [mode, root] of modes) {
      const row = { phase: label, round, ...await spawn(mode, root) };
      console.log(JSON.stringify(row));
      rows.push(row);
    }
  }
  const shas = new Set(rows.map((r) => r.viewSha256));
  if (shas.size !== 1) throw new Error(`${label}: the modes answered different views`);
  return rows;
}

function median(rows: Record<string, unknown>[], mode: string, field: string): number {
  const xs = rows.filter((r) => r.mode === mode).map((r) => r[field] as number).sort((a, b) =>
    a - b
  );
  return xs[Math.floor(xs.length / 2)];
}

async function main(): Promise<void> {
  const { DenoKvStore } = await import("../src/store/deno_kv_store.ts");
  await Deno.mkdir(values.dir!, { recursive: true });
  const deltas = Number(values.deltas), tail = Number(values.tail), rounds = Number(values.rounds);
  let store = await DenoKvStore.open(kvPath);
  const workload = await filled(store, deltas);
  console.log(JSON.stringify(await checkpoint(store)));
  await store.close();
  const atCheckpoint = await readRounds("tail 0", rounds);
  store = await DenoKvStore.open(kvPath);
  await append(store, workload, tail);
  await store.close();
  const withTail = await readRounds(`tail ${tail}`, rounds);
  store = await DenoKvStore.open(kvPath);
  const again = { ...await checkpoint(store), step: "checkpoint again (from the last one + tail)" };
  console.log(JSON.stringify(again));
  await store.close();
  const summary: Record<string, unknown> = { deltas, tail, workload: values.workload };
  for (const [label, rows] of [["tail0", atCheckpoint], ["tail", withTail]] as const) {
    for (const mode of new Set(rows.map((r) => r.mode as string))) {
      summary[`${label}.${mode}`] = {
        ms: median(rows, mode, "ms"),
        addedRssMB: median(rows, mode, "addedRssMB"),
      };
    }
  }
  console.log(JSON.stringify(summary));
}

if (values.child !== undefined) await child(values.child, values.root!);
else await main();
