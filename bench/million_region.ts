/**
 * One real region process holding 1,000,000 stored deltas and 1,000,000 registered agents while
 * serving pushes (issue 14): its resident memory (VmRSS from /proc/<pid>/status, every 100 ms).
 *
 *   deno run -A bench/million_region.ts [--deltas 1000000] [--cards 1000000] [--channels 1000]
 *     [--rate 200] [--seconds 60] [--reads 5] [--queries 5] [--in-flight 64]
 *     [--dir /tmp/million_region]
 *
 * The store is built once (bench/_million_store.ts; ~40 min here, most of it the discovery
 * index) and kept in `--dir` for reruns; each run adds its pushes to it. The region runs
 * `main.ts` in a topology with one peer region in another zone whose address refuses
 * connections (a mesh whose other region is down): so the region keeps its reconciliation index
 * (an `IdTrie` of every delta id, caught up from the region log on its first heartbeat) as a
 * region of a mesh does; the peer's fan-out cursors are set to the log's heads first, so only the
 * run's pushes are waiting for it. Phases: start (until /v1/health answers), settle (until RSS
 * stays within `SETTLED_MB` for `SETTLED_S` s: the index is built), load (open-loop single-delta
 * pushes at `--rate`/s by 200 new authors into the stored channels, `--reads` view reads and
 * `--queries` discovery queries a second), end. Prints one JSON object.
 */
import { parseArgs } from "node:util";
import { AgentKey } from "../src/crypto/agent_key.ts";
import { fanOutCursor } from "../src/mesh/fan_out.ts";
import { DenoKvStore } from "../src/store/deno_kv_store.ts";
import { freePort } from "../test/support/region_process.ts";
import { Rng } from "../test/support/seeded_rng.ts";
import { channelName, millionStore } from "./_million_store.ts";
import { benchAuthors, signNext, typicalOps } from "./_signed_batches.ts";
import { SKILL_IDS, TAGS, WORDS } from "./_registry_cards.ts";
import type { Envelope } from "../src/client/mesh_client.ts";
import { type Pace, paced, quantiles, RssSampler } from "./_rss_sampler.ts";

const REGION = "million-1";
const PEER = "million-2";
/** RSS that moves less than this for SETTLED_S seconds counts as settled, MB. */
const SETTLED_MB = 4;
const SETTLED_S = 10;
/** Longest the region may take to settle after it answers its health check, s. */
const SETTLE_S_MAX = 600;
const PUSH_AUTHORS = 200;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    deltas: { type: "string", default: "1000000" },
    cards: { type: "string", default: "1000000" },
    channels: { type: "string", default: "1000" },
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "60" },
    reads: { type: "string", default: "5" },
    queries: { type: "string", default: "5" },
    "in-flight": { type: "string", default: "64" },
    dir: { type: "string", default: "/tmp/million_region" },
  },
});
const spec = {
  region: REGION,
  deltas: Number(values.deltas),
  cards: Number(values.cards),
  channels: Number(values.channels),
};
const [rate, seconds] = [Number(values.rate), Number(values.seconds)];
const rng = new Rng(14);
const log = (line: string) => console.error(`[${new Date().toISOString()}] ${line}`);

log(`store: ${JSON.stringify(spec)} in ${values.dir}`);
const built = await millionStore(values.dir, spec);
log(`store ready (built in ${built.buildS} s, ${built.fileMb} MB)`);
const storeAtStart = await prepare(`${values.dir}/${REGION}.kv`);

/** Moves the down peer's fan-out cursors to the log heads; returns what the store holds. */
async function prepare(kvPath: string) {
  const store = await DenoKvStore.open(kvPath);
  try {
    const heads = await store.logHeads();
    for (const [shard, head] of heads.entries()) {
      await store.advanceCursor(fanOutCursor(PEER, shard), head);
    }
    return { logEntries: heads.reduce((a, b) => a + b, 0) };
  } finally {
    await store.close();
  }
}

async function topologyFile(port: number, self: AgentKey): Promise<string> {
  const path = `${values.dir}/topology.json`;
  const region = (id: string, url: string, key: string) => ({ id, url, publicKey: key });
  const zones = [
    { id: "here", regions: [region(REGION, `http://127.0.0.1:${port}`, self.id)] },
    {
      id: "far",
      regions: [region(PEER, `http://127.0.0.1:${freePort()}`, AgentKey.generate().id)],
    },
  ];
  await Deno.writeTextFile(path, JSON.stringify({ v: 1, zones }));
  return path;
}

const port = freePort();
const key = AgentKey.generate();
const child = new Deno.Command(Deno.execPath(), {
  // V8 prints a line per garbage collection: the JS heap's share of the RSS.
  args: ["run", "-A", "--v8-flags=--trace-gc", "main.ts"],
  cwd: new URL("../", import.meta.url),
  env: {
    MESH_DATA: values.dir,
    MESH_REGION: REGION,
    MESH_TOPOLOGY: await topologyFile(port, key),
    MESH_REGION_KEY: JSON.parse(key.toFileText()).secretKey,
    PORT: String(port),
    NO_COLOR: "1",
  },
  stdout: "piped",
  stderr: "piped",
}).spawn();
const heap = traceGc(child.stdout);
const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
let stderrTail = "";
(async () => {
  for (;;) {
    const { value, done } = await stderr.read();
    if (done) return;
    stderrTail = (stderrTail + value).slice(-4_000);
  }
})();
const url = `http://127.0.0.1:${port}`;
const rss = new RssSampler(child.pid);
try {
  const startMs = await healthy();
  const start = rss.mark("start");
  log(`region answers after ${startMs} ms, RSS ${start} MB; settling`);
  const settleS = await settle();
  const settled = rss.mark("settled");
  log(`settled after ${settleS} s, RSS ${settled} MB; load`);
  const envelopes = await signPushes(rate * seconds);
  rss.resetPeak();
  const load = await Promise.all([
    paced(rate, seconds, (i) => push(envelopes[i]), Number(values["in-flight"])),
    paced(Number(values.reads), seconds, () => viewRead(), Number(values["in-flight"])),
    paced(Number(values.queries), seconds, (i) => discovery(i), Number(values["in-flight"])),
  ]);
  const peak = rss.peakMb;
  const end = rss.mark("end");
  console.log(JSON.stringify(
    {
      bench: "million_region",
      store: { ...built, channelNames: undefined, ...storeAtStart },
      rate,
      seconds,
      rssMb: { start, settled, peakDuringLoad: peak, end, peakOverall: rss.peakOverallMb },
      heapMb: heap,
      startMs,
      settleS,
      pushes: summary(load[0]),
      viewReads: summary(load[1]),
      queries: summary(load[2]),
      timeline: rss.timeline(1_000),
    },
  ));
} catch (error) {
  console.error(stderrTail);
  throw error;
} finally {
  rss.stop();
  child.kill("SIGTERM");
  await child.status;
}

/**
 * The JS heap from V8's `--trace-gc` lines ("Mark-Compact 150.1 (170.2) -> 120.3 (160.0) MB"):
 * after the last full collection, used and committed, and the most used after any.
 */
function traceGc(stream: ReadableStream<Uint8Array>) {
  const heap = { fullGcs: 0, usedAfterLastFullMb: 0, committedAfterLastFullMb: 0, usedMaxMb: 0 };
  const pattern = /(Mark-Compact|Scavenge)[^\d]*[\d.]+ \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/;
  (async () => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        const m = pattern.exec(line);
        if (m === null) continue;
        const [used, committed] = [Number(m[3]), Number(m[4])];
        heap.usedMaxMb = Math.max(heap.usedMaxMb, Math.round(used));
        if (m[1] !== "Mark-Compact") continue;
        heap.fullGcs++;
        heap.usedAfterLastFullMb = Math.round(used);
        heap.committedAfterLastFullMb = Math.round(committed);
      }
    }
  })();
  return heap;
}

async function healthy(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0;; i++) {
    try {
      const r = await fetch(`${url}/v1/health`);
      await r.body?.cancel();
      if (r.ok) return Math.round(performance.now() - t0);
    } catch { /* not yet */ }
    if (i > 1_200) throw new Error("region process did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until RSS has moved less than SETTLED_MB for SETTLED_S seconds; returns seconds. */
async function settle(): Promise<number> {
  const t0 = performance.now();
  while ((performance.now() - t0) / 1000 < SETTLE_S_MAX) {
    await new Promise((r) => setTimeout(r, 1_000));
    if (rss.rangeMb(SETTLED_S * 1_000) < SETTLED_MB && performance.now() - t0 > SETTLED_S * 1e3) {
      return Math.round((performance.now() - t0) / 1000);
    }
  }
  throw new Error(`RSS did not settle within ${SETTLE_S_MAX} s`);
}

async function signPushes(count: number): Promise<Envelope[]> {
  const authors = await benchAuthors(PUSH_AUTHORS);
  const out: Envelope[] = [];
  for (let i = 0; i < count; i += PUSH_AUTHORS) {
    const n = Math.min(PUSH_AUTHORS, count - i);
    out.push(
      ...await Promise.all(Array.from({ length: n }, (_, k) => {
        const a = (i + k) % PUSH_AUTHORS;
        return signNext(authors[a], channelName((a * 7) % spec.channels), typicalOps(i + k));
      })),
    );
  }
  return out;
}

async function push(envelope: Envelope): Promise<boolean> {
  const response = await fetch(`${url}/v1/deltas`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas: [envelope] }),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    return false;
  }
  const { results } = await response.json() as { results: { status: string }[] };
  return results[0]?.status === "accepted";
}

async function viewRead(): Promise<boolean> {
  const channel = built.channelNames[rng.between(0, built.channelNames.length - 1)];
  const response = await fetch(`${url}/v1/channels/${channel}`);
  await response.arrayBuffer();
  return response.ok;
}

async function discovery(i: number): Promise<boolean> {
  const p = new URLSearchParams();
  if (i % 3 === 0) p.set("tag", rng.pick(TAGS));
  if (i % 3 === 1) p.set("skill", rng.pick(SKILL_IDS));
  if (i % 3 === 2) p.set("q", rng.pick(WORDS));
  const response = await fetch(`${url}/v1/agents?${p}`);
  await response.arrayBuffer();
  return response.ok;
}

function summary(pace: Pace) {
  return { sent: pace.ms.length, ok: pace.ok, shed: pace.shed, ...quantiles(pace.ms) };
}
