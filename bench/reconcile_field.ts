/**
 * Reconciliation against the field (issue 14), in-process: for sets of N ids (10k, 100k, 1M)
 * differing by d (1, 100, 10,000; d = 1 is one id only the server holds, otherwise half a side),
 * round trips, bytes both ways and CPU of both sides for
 *
 * - ours, frame version 2 (cells) and version 1 (before issue 14), each one unbounded session;
 * - a full id-list exchange;
 * - Negentropy (NIP-77) from npm `@nostr-dev-kit/sync`, unlimited frames;
 * - Automerge sync and Yjs state vectors over models of the sets (see `_field_peers.ts`).
 *
 *   deno run -A bench/reconcile_field.ts [sizes] [differences] [peers]
 *   deno run -A bench/reconcile_field.ts 10000,100000,1000000 1,100,10000 ours,v1,list,negentropy,automerge,yjs
 *
 * Prints one JSON line per (N, d, scheme), then a Markdown table. CPU is user + system time of
 * the process (`process.cpuUsage`), both sides together, excluding building the sets (each side
 * keeps its index or document between sessions); `vsList` is the ratio to the full id-list
 * exchange of the same row, run in the same process — the figure to compare on a busy machine.
 * Automerge is run up to `AUTOMERGE_IDS_MAX` ids (1M one-change-each documents build in about a
 * minute a pair here).
 */
import { ID_BYTES, IdTrie } from "../src/sync/id_trie.ts";
import {
  Reconciler,
  ReconcilerV1,
  type ReconcileStep,
  resolveIds,
  respond,
  SYNC_FRAME_BYTES_MAX,
} from "../src/sync/range_reconcile.ts";
import {
  automergePair,
  automergeSync,
  cpu,
  type FieldResult,
  fullList,
  negentropy,
  yjsPair,
  yjsSync,
} from "./_field_peers.ts";

const [SIZES, DIFFERENCES] = [Deno.args[0] ?? "10000,100000,1000000", Deno.args[1] ?? "1,100,10000"]
  .map((arg) => arg.split(",").map(Number));
const PEERS = (Deno.args[2] ?? "ours,v1,list,negentropy,automerge,yjs").split(",");
/** Largest set the Automerge model is built for (env `BENCH_AUTOMERGE_IDS_MAX` to lower it). */
const AUTOMERGE_IDS_MAX = Number(Deno.env.get("BENCH_AUTOMERGE_IDS_MAX") ?? 1_000_000);
const RANDOM_CHUNK_BYTES = 65_536;
const unbounded = {
  differencesMax: Infinity,
  bytesMax: Infinity,
  rangesMax: Infinity,
  frameBytesMax: SYNC_FRAME_BYTES_MAX,
};

function randomIds(n: number): Uint8Array[] {
  const bytes = new Uint8Array(n * ID_BYTES);
  for (let o = 0; o < bytes.length; o += RANDOM_CHUNK_BYTES) {
    crypto.getRandomValues(bytes.subarray(o, o + RANDOM_CHUNK_BYTES));
  }
  return Array.from({ length: n }, (_, i) => bytes.subarray(i * ID_BYTES, (i + 1) * ID_BYTES));
}

/** Client and server sets of n ids each (n + 1 on the server when d = 1) differing by d. */
function sets(n: number, d: number) {
  const own = d === 1 ? [0, 1] : [d / 2, d / 2];
  const ids = randomIds(n - own[0] + own[0] + own[1]);
  const common = ids.slice(0, n - own[0]);
  const client = [...common, ...ids.slice(n - own[0], n)];
  const server = [...common, ...ids.slice(n, n + own[1])];
  return { client, server, own };
}

function trieOf(ids: readonly Uint8Array[]): IdTrie<string> {
  const trie = new IdTrie<string>();
  for (const id of ids) trie.add(id, "x");
  return trie;
}

/** One unbounded session of our client against our server. */
async function ours(
  client: IdTrie<string>,
  server: IdTrie<string>,
  d: number,
  version: 1 | 2,
): Promise<FieldResult> {
  const { value, cpuMs } = await cpu(() => {
    const session = version === 2
      ? new Reconciler(client, unbounded)
      : new ReconcilerV1(client, { ...unbounded, frameBytesMax: undefined });
    let request: Uint8Array | null = session.start();
    let found = 0;
    const need: Uint8Array[] = [];
    while (request !== null) {
      const step: ReconcileStep = session.receive(respond(server, request));
      found += step.have.length;
      need.push(...step.need);
      request = step.next;
    }
    found += resolveIds(server, need, Infinity).length;
    return { roundTrips: session.rounds, bytes: session.bytes, found };
  });
  return { ...value, cpuMs, exact: value.found === d };
}

const rows: Record<string, unknown>[] = [];
function report(n: number, d: number, scheme: string, result: FieldResult, baseline?: number) {
  const row = {
    ids: n,
    differences: d,
    scheme,
    ...result,
    bytesPerDifference: Math.round(result.bytes / d),
    vsList: baseline === undefined ? undefined : Math.round(result.cpuMs / baseline * 100) / 100,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}

for (const n of SIZES) {
  for (const d of DIFFERENCES) {
    const { client, server, own } = sets(n, d);
    const [clientTrie, serverTrie] = [trieOf(client), trieOf(server)];
    const list = await fullList(() => clientTrie.ids([]), () => serverTrie.ids([]), d);
    report(n, d, "full id list", list);
    if (PEERS.includes("ours")) {
      report(n, d, "ours v2 (cells)", await ours(clientTrie, serverTrie, d, 2), list.cpuMs);
    }
    if (PEERS.includes("v1")) {
      report(n, d, "ours v1 (before)", await ours(clientTrie, serverTrie, d, 1), list.cpuMs);
    }
    if (PEERS.includes("negentropy")) {
      report(n, d, "Negentropy", await negentropy(client, server, d), list.cpuMs);
    }
    if (PEERS.includes("automerge") && n <= AUTOMERGE_IDS_MAX) {
      const pair = automergePair(n - own[0], own[0], own[1]);
      report(n, d, "Automerge sync", await automergeSync(pair, d), list.cpuMs);
    }
    if (PEERS.includes("yjs")) {
      report(
        n,
        d,
        "Yjs state vectors",
        await yjsSync(yjsPair(n - own[0], own[0], own[1])),
        list.cpuMs,
      );
    }
  }
}

console.log("\n| N | d | scheme | round trips | bytes | B/difference | CPU ms | ×list | exact |");
console.log("| - | - | - | - | - | - | - | - | - |");
for (const r of rows) {
  const f = (x: unknown) => typeof x === "number" ? x.toLocaleString("en-US") : String(x ?? "");
  console.log(
    `| ${f(r.ids)} | ${f(r.differences)} | ${r.scheme} | ${f(r.roundTrips)} | ${f(r.bytes)} | ` +
      `${f(r.bytesPerDifference)} | ${f(r.cpuMs)} | ${f(r.vsList)} | ${r.exact}${
        r.note ? ` (${r.note})` : ""
      } |`,
  );
}
