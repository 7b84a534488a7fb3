/**
 * Memory of the region's reconciliation index (issue 14), in one process:
 *
 *   deno run -A --v8-flags=--expose-gc bench/index_memory.ts [--ids 2000000]
 *     [--channels 1000] [--baseline /tmp/rss_before] [--only baseline|current]
 *
 * - trie: an `IdTrie<string>` of `--ids` random ids, each with its channel name as a fresh string
 *   (as a store hands them out, one string object per entry), as `RegionIndex` holds them;
 * - catch-up: a `RegionIndex` caught up from a region log of `--ids` entries spread over the 16
 *   data shards (a stand-in store answering `logHeads` and `listLog` with fresh entry objects, as
 *   Deno KV decodes them), with the JS heap sampled after every page read.
 *
 * Each is measured after a full GC, against the heap before it: JS heap used, `external` (V8's
 * count of ArrayBuffer bytes and other memory outside the heap) and the heap V8 keeps committed,
 * per id. `--baseline <dir>` also measures the same code of another checkout (a `git archive` of
 * an older commit), first, in this same process, and prints the ratios. Prints one JSON object.
 */
import { parseArgs } from "node:util";
import { encodeBase64Url } from "../src/protocol/base64url.ts";
import { LOG_SHARDS } from "../src/store/region_log.ts";
import type { LogPage, RegionStore } from "../src/store/region_store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    ids: { type: "string", default: "2000000" },
    channels: { type: "string", default: "1000" },
    baseline: { type: "string" },
    only: { type: "string" },
  },
});
const IDS = Number(values.ids);
const CHANNELS = Number(values.channels);
const DATA_SHARDS = LOG_SHARDS - 2;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");
const MB = 1024 * 1024;

interface TrieLike {
  add(id: Uint8Array, value: string): boolean;
  fingerprint(prefix: ArrayLike<number>): Uint8Array;
  readonly size: number;
}
interface IndexLike {
  catchUp(): Promise<void>;
  fingerprint(): string;
  readonly size: number;
}
interface Code {
  readonly name: string;
  readonly IdTrie: new () => TrieLike;
  readonly RegionIndex: new (store: RegionStore) => IndexLike;
}

/** splitmix32: the id of log entry `n` of `shard`, the same in every run. */
function idOf(shard: number, n: number, out: Uint8Array): Uint8Array {
  let s = (shard * 0x9e3779b9 + n * 0x85ebca6b) >>> 0;
  for (let k = 0; k < out.length; k += 4) {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z = (z ^ (z >>> 16)) >>> 0;
    out[k] = z & 255;
    out[k + 1] = (z >>> 8) & 255;
    out[k + 2] = (z >>> 16) & 255;
    out[k + 3] = z >>> 24;
  }
  return out;
}

/** A fresh string per call, as a store decodes one per entry. */
const channelOf = (n: number) => "channel-" + (n % CHANNELS);

/** Memory after a full GC, and another once V8 has freed the dead ArrayBuffers' bytes. */
async function snapshot() {
  gc!();
  await new Promise((resolve) => setTimeout(resolve, 500));
  gc!();
  const m = Deno.memoryUsage();
  return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, rss: m.rss };
}

type Snapshot = Awaited<ReturnType<typeof snapshot>>;

function perId(before: Snapshot, after: Snapshot) {
  const round = (bytes: number) => Math.round((bytes / IDS) * 10) / 10;
  return {
    heapBytesPerId: round(after.heapUsed - before.heapUsed),
    externalBytesPerId: round(after.external - before.external),
    totalBytesPerId: round(
      after.heapUsed - before.heapUsed + after.external - before.external,
    ),
    heapCommittedMb: Math.round(after.heapTotal / MB),
    rssMb: Math.round(after.rss / MB),
  };
}

async function measureTrie(code: Code) {
  const before = await snapshot();
  const startedMs = performance.now();
  let trie: TrieLike | null = new code.IdTrie();
  const id = new Uint8Array(32);
  for (let i = 0; i < IDS; i++) trie.add(idOf(1, i, id), channelOf(i));
  const buildS = (performance.now() - startedMs) / 1000;
  const after = await snapshot();
  const root = [...trie.fingerprint([])].join(",");
  trie = null;
  return { ...perId(before, after), buildS: Math.round(buildS * 10) / 10, root };
}

/** A store holding only a region log of IDS entries over the data shards. */
function logOnlyStore(onPage: () => void): RegionStore {
  const heads = Array.from(
    { length: LOG_SHARDS },
    (_, s) => s < 2 ? 0 : Math.floor(IDS / DATA_SHARDS) + (s - 2 < IDS % DATA_SHARDS ? 1 : 0),
  );
  const id = new Uint8Array(32);
  const store = {
    logHeads: () => Promise.resolve([...heads]),
    listLog(shard: number, after: number, limit: number): Promise<LogPage> {
      const end = Math.min(heads[shard], after + Math.min(limit, 1_000));
      const entries = [];
      for (let n = after + 1; n <= end; n++) {
        const channel = channelOf(n * DATA_SHARDS + shard);
        entries.push({
          shard,
          n,
          channel,
          id: encodeBase64Url(idOf(shard, n, id)),
          origin: "agent",
        });
      }
      onPage();
      return Promise.resolve({ entries, cursor: end, more: end < heads[shard] } as LogPage);
    },
  };
  return store as unknown as RegionStore;
}

async function measureCatchUp(code: Code) {
  const before = await snapshot();
  let peak = 0;
  const sample = () => peak = Math.max(peak, Deno.memoryUsage().heapUsed);
  const startedMs = performance.now();
  let index: IndexLike | null = new code.RegionIndex(logOnlyStore(sample));
  await index.catchUp();
  const catchUpS = (performance.now() - startedMs) / 1000;
  const after = await snapshot();
  const out = {
    ...perId(before, after),
    heapUsedPeakMb: Math.round((peak - before.heapUsed) / MB),
    catchUpS: Math.round(catchUpS * 10) / 10,
    size: index.size,
    fingerprint: index.fingerprint(),
  };
  index = null;
  return out;
}

async function load(name: string, root: string): Promise<Code> {
  const { IdTrie } = await import(new URL("src/sync/id_trie.ts", root).href);
  const { RegionIndex } = await import(new URL("src/mesh/region_index.ts", root).href);
  return { name, IdTrie, RegionIndex };
}

const codes: Code[] = [];
if (values.baseline !== undefined && values.only !== "current") {
  codes.push(await load("baseline", `file://${Deno.realPathSync(values.baseline)}/`));
}
if (values.only !== "baseline") {
  codes.push(await load("current", new URL("../", import.meta.url).href));
}

const results: Record<string, unknown> = {};
for (const code of codes) {
  results[code.name] = { trie: await measureTrie(code), catchUp: await measureCatchUp(code) };
}
const [base, current] = [results.baseline, results.current] as {
  trie: { totalBytesPerId: number };
  catchUp: { totalBytesPerId: number; heapUsedPeakMb: number };
}[];
const ratio = base === undefined || current === undefined ? undefined : {
  trieBytes: Math.round((current.trie.totalBytesPerId / base.trie.totalBytesPerId) * 100) / 100,
  catchUpBytes: Math.round(
    (current.catchUp.totalBytesPerId / base.catchUp.totalBytesPerId) * 100,
  ) / 100,
  catchUpHeapPeak: Math.round(
    (current.catchUp.heapUsedPeakMb / base.catchUp.heapUsedPeakMb) * 100,
  ) / 100,
};
console.log(
  JSON.stringify({ bench: "index_memory", ids: IDS, channels: CHANNELS, results, ratio }),
);
