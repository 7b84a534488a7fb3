/**
 * View reads after a write, with and without a quarantined author (issue 8, item 4): two memory
 * stores each hold one channel of 30,000 deltas from 100 authors; in the second store one of those
 * authors (300 of the deltas) is quarantined by a record in `_equivocations`. Each round stores one
 * new delta in each channel and times the `ChannelViews.read()` that follows (catch-up, quarantine
 * refresh, the state the view renders), interleaving the two stores in one process.
 *
 *   deno run -A bench/view_read.ts
 *
 * Prints one JSON line: the median and p90 read time in ms per store, and their ratio.
 */
import { encodeBase64Url } from "../src/protocol/base64url.ts";
import { deltaId } from "../src/protocol/delta.ts";
import { EQUIVOCATIONS_CHANNEL } from "../src/protocol/equivocation.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import { ChannelViews } from "../src/views/channel_views.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { StoredDelta } from "../src/store/region_store.ts";

const CHANNEL = "bench";
const DELTAS = 30_000;
const AUTHORS = 100;
const ROUNDS = 200;
const WARMUP_ROUNDS = 10;
const PUT_BATCH_DELTAS = 1_000;

function author(n: number): string {
  const bytes = new Uint8Array(32);
  new DataView(bytes.buffer).setUint32(0, n + 1);
  return encodeBase64Url(bytes);
}

function record(channel: string, by: string, seq: number, ops: unknown[]): StoredDelta {
  const body = JSON.stringify({
    v: 1,
    author: by,
    seq,
    channel,
    ts: 1_700_000_000_000 + seq,
    lc: 0,
    ops,
  });
  return { id: deltaId(utf8Encode(body)), channel, author: by, seq, body, sig: "A".repeat(86) };
}

/** Author `n`'s delta `seq`: a map key, a set element and a counter, from small key spaces. */
function delta(n: number, seq: number): StoredDelta {
  return record(CHANNEL, author(n), seq, [
    { op: "set", key: `k${(n * 7 + seq) % 500}`, value: seq },
    { op: "add", set: "s", elem: `e${seq % 200}` },
    { op: "inc", counter: "c", by: 1 },
  ]);
}

async function filled(quarantined: boolean): Promise<{ store: MemoryStore; seqs: number[] }> {
  const store = new MemoryStore();
  const seqs = new Array<number>(AUTHORS).fill(0);
  const batch: StoredDelta[] = [];
  for (let i = 0; i < DELTAS; i++) {
    const n = i % AUTHORS;
    batch.push(delta(n, ++seqs[n]));
    if (batch.length === PUT_BATCH_DELTAS) await store.putDeltas(batch.splice(0));
  }
  if (quarantined) {
    // The follower takes every `set` key of `_equivocations` as a proven author (ingest checked
    // the proof); the bench stores the record directly.
    await store.putDeltas([
      record(EQUIVOCATIONS_CHANNEL, author(AUTHORS), 1, [
        { op: "set", key: author(0), value: "proof" },
      ]),
    ]);
  }
  return { store, seqs };
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

const runs = [await filled(false), await filled(true)].map((r) => ({
  ...r,
  views: new ChannelViews(r.store),
  ms: [] as number[],
}));
for (const run of runs) await run.views.read(CHANNEL); // the cold fold is not what is measured
for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
  for (const run of runs) {
    const n = 1 + (round % (AUTHORS - 1)); // never the quarantined author 0
    await run.store.putDeltas([delta(n, ++run.seqs[n])]);
    const started = performance.now();
    const { state } = await run.views.read(CHANNEL);
    const ms = performance.now() - started;
    if (state.size === 0) throw new Error("empty view");
    if (round >= WARMUP_ROUNDS) run.ms.push(ms);
  }
}
const [plain, quarantined] = runs.map((r) => ({
  medianMs: Number(percentile(r.ms, 0.5).toFixed(3)),
  p90Ms: Number(percentile(r.ms, 0.9).toFixed(3)),
}));
console.log(JSON.stringify({
  deltas: DELTAS,
  rounds: ROUNDS,
  noQuarantine: plain,
  oneQuarantinedAuthor: quarantined,
  medianRatio: Number((quarantined.medianMs / plain.medianMs).toFixed(2)),
}));
