/**
 * Range reconciliation, in-process: two tries of N ids differing by 100 (50 only on each side,
 * spread at random) reconcile through `Reconciler` and `respond()`, for N = 10k, 100k and 1M.
 *
 *   deno run -A bench/reconcile.ts
 *
 * Prints one JSON line: per N and server `idListMax`, the rounds, request/response/total frame
 * bytes, the reconcile time, the time to build both tries, and the ratio to a full id-list
 * exchange (32 bytes × N). Targets at 1M: ≤ 5 rounds and ≤ 64 KiB.
 *
 * Then 1M vs 1M differing by 10,000 (5,000 a side), as a region runs it: sessions with the
 * default budgets, each moving at most 2,000 ids each way, until equal; per session the rounds,
 * bytes and peak outstanding ranges (against `SYNC_SESSION_BYTES_MAX` / `_RANGES_MAX`).
 */
import { ID_BYTES, IdTrie } from "../src/sync/id_trie.ts";
import {
  ID_LIST_MAX,
  Reconciler,
  resolveIds,
  respond,
  SYNC_SESSION_BYTES_MAX,
  SYNC_SESSION_RANGES_MAX,
} from "../src/sync/range_reconcile.ts";

const SIZES = [10_000, 100_000, 1_000_000];
const DIFFERENCE = 100;
const ID_LIST_MAXES = [ID_LIST_MAX, 32];
const RANDOM_CHUNK_BYTES = 65_536; // getRandomValues' limit per call

function randomIds(n: number): Uint8Array {
  const bytes = new Uint8Array(n * ID_BYTES);
  for (let o = 0; o < bytes.length; o += RANDOM_CHUNK_BYTES) {
    crypto.getRandomValues(bytes.subarray(o, o + RANDOM_CHUNK_BYTES));
  }
  return bytes;
}

/** Client and server tries: n − 50 ids in common, 50 more each of their own. */
function buildPair(
  n: number,
  difference = DIFFERENCE,
): { client: IdTrie<string>; server: IdTrie<string>; ms: number } {
  const own = difference / 2;
  const bytes = randomIds(n + own);
  const started = performance.now();
  const client = new IdTrie<string>(), server = new IdTrie<string>();
  for (let i = 0; i < n + own; i++) {
    const id = bytes.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
    const common = i < n - own;
    if (common || i % 2 === 0) client.add(id, "bench");
    if (common || i % 2 === 1) server.add(id, "bench");
  }
  return { client, server, ms: performance.now() - started };
}

function run(client: IdTrie<string>, server: IdTrie<string>, idListMax: number) {
  const started = performance.now();
  const reconciler = new Reconciler(client);
  let request: Uint8Array | null = reconciler.start();
  let requestBytes = 0, responseBytes = 0;
  const have: Uint8Array[] = [], need: Uint8Array[] = [];
  while (request !== null) {
    requestBytes += request.length;
    const response = respond(server, request, { idListMax });
    responseBytes += response.length;
    const step = reconciler.receive(response);
    have.push(...step.have);
    need.push(...step.need);
    request = step.next;
  }
  const ms = performance.now() - started;
  const fetched = resolveIds(server, need, DIFFERENCE);
  const exact = have.length === DIFFERENCE / 2 && have.every((id) => !server.has(id)) &&
    fetched.length === DIFFERENCE / 2 && fetched.every((e) => !client.has(e.id));
  const totalBytes = requestBytes + responseBytes;
  const fullIdListBytes = client.size * ID_BYTES;
  return {
    ids: client.size,
    idListMax,
    rounds: reconciler.rounds,
    requestBytes,
    responseBytes,
    totalBytes,
    ms: Math.round(ms * 10) / 10,
    exact,
    fullIdListBytes,
    fullListOverTotal: Math.round(fullIdListBytes / totalBytes),
  };
}

const results = [];
for (const n of SIZES) {
  const { client, server, ms } = buildPair(n);
  for (const idListMax of ID_LIST_MAXES) {
    results.push({ ...run(client, server, idListMax), buildBothTriesMs: Math.round(ms) });
  }
}
/** Sessions as a region runs them until the two sets are equal. */
function sessions(client: IdTrie<string>, server: IdTrie<string>) {
  const out = [];
  for (;;) {
    const reconciler = new Reconciler(client);
    let request: Uint8Array | null = reconciler.start();
    let peak = 0;
    const have: Uint8Array[] = [], need: Uint8Array[] = [];
    while (request !== null) {
      const step = reconciler.receive(respond(server, request));
      peak = Math.max(peak, reconciler.outstanding);
      for (const id of step.have) have.push(id);
      for (const id of step.need) need.push(id);
      request = step.next;
    }
    out.push({
      rounds: reconciler.rounds,
      bytes: reconciler.bytes,
      peakRanges: peak,
      have: have.length,
      need: need.length,
    });
    if (have.length + need.length === 0) return out;
    have.slice(0, SESSION_DELTAS_MAX).forEach((id) => server.add(id, "bench"));
    resolveIds(server, need.slice(0, SESSION_DELTAS_MAX), Infinity)
      .forEach((e) => client.add(e.id, "bench"));
  }
}

const SESSION_DELTAS_MAX = 2_000; // src/region/region_index.ts SYNC_SESSION_DELTAS_MAX
const large = buildPair(1_000_000, 10_000);
const largeDifference = {
  ids: 1_000_000,
  difference: 10_000,
  budgets: { bytes: SYNC_SESSION_BYTES_MAX, ranges: SYNC_SESSION_RANGES_MAX },
  sessions: sessions(large.client, large.server),
  equal: large.client.fingerprint([]).join() === large.server.fingerprint([]).join(),
};
console.log(
  JSON.stringify({ bench: "reconcile", difference: DIFFERENCE, results, largeDifference }),
);
