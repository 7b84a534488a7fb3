/**
 * Range reconciliation, in-process, frame version 2 (cells, `Reconciler`) against version 1
 * (before issue 14, `ReconcilerV1`) on the same tries:
 *
 *   deno run -A bench/reconcile.ts [differences at 1M]
 *
 * 1. N = 10k, 100k and 1M per side differing by 100 (50 only on each side, spread at random).
 * 2. 1M vs 1M differing by d = 1 (one id only the server holds), 2, 100, 10,000 and 100,000
 *    (10% of the set; half a side): one session that finds every difference.
 * 3. 1M vs 1M differing by 10,000 as a region runs it: sessions with the default budgets (each
 *    stops at 4,096 differences and moves at most 2,000 ids each way) until the sets are equal.
 *
 * Prints one JSON line: per row the rounds (round trips), request/response/total frame bytes,
 * bytes per difference, and the reconcile time of both sides (ms, wall clock of this process;
 * compare the two versions' ratio, not the absolute figure, on a shared machine).
 */
import { ID_BYTES, IdTrie } from "../src/sync/id_trie.ts";
import {
  Reconciler,
  ReconcilerV1,
  type ReconcileStep,
  resolveIds,
  respond,
  SYNC_FRAME_BYTES_MAX,
  SYNC_SESSION_BYTES_MAX,
  SYNC_SESSION_RANGES_MAX,
} from "../src/sync/range_reconcile.ts";

const SIZES = [10_000, 100_000, 1_000_000];
const DIFFERENCES_AT_1M = (Deno.args[0] ?? "1,2,100,10000,100000").split(",").map(Number);
const SESSION_DELTAS_MAX = 2_000; // src/mesh/region_index.ts SYNC_SESSION_DELTAS_MAX
const RANDOM_CHUNK_BYTES = 65_536; // getRandomValues' limit per call
const unbounded = {
  differencesMax: Infinity,
  bytesMax: Infinity,
  rangesMax: Infinity,
  frameBytesMax: SYNC_FRAME_BYTES_MAX,
};

function randomIds(n: number): Uint8Array {
  const bytes = new Uint8Array(n * ID_BYTES);
  for (let o = 0; o < bytes.length; o += RANDOM_CHUNK_BYTES) {
    crypto.getRandomValues(bytes.subarray(o, o + RANDOM_CHUNK_BYTES));
  }
  return bytes;
}

/** Client and server tries of n ids each (the server n + 1 when d = 1) differing by d. */
function buildPair(n: number, d: number) {
  const [mine, theirs] = d === 1 ? [0, 1] : [d / 2, d / 2];
  const bytes = randomIds(n + theirs);
  const id = (i: number) => bytes.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
  const started = performance.now();
  const client = new IdTrie<string>(), server = new IdTrie<string>();
  for (let i = 0; i < n - mine; i++) (client.add(id(i), "b"), server.add(id(i), "b"));
  for (let i = n - mine; i < n; i++) client.add(id(i), "b");
  for (let i = n; i < n + theirs; i++) server.add(id(i), "b");
  return { client, server, buildMs: Math.round(performance.now() - started) };
}

/** One session that finds every difference; checks what it found against the truth. */
function run(client: IdTrie<string>, server: IdTrie<string>, d: number, version: 1 | 2) {
  const started = performance.now();
  const session = version === 2
    ? new Reconciler(client, unbounded)
    : new ReconcilerV1(client, { ...unbounded, frameBytesMax: undefined });
  let request: Uint8Array | null = session.start();
  let requestBytes = 0, responseBytes = 0;
  const have: Uint8Array[] = [], need: Uint8Array[] = [];
  while (request !== null) {
    requestBytes += request.length;
    const response: Uint8Array = respond(server, request);
    responseBytes += response.length;
    const step: ReconcileStep = session.receive(response);
    have.push(...step.have);
    need.push(...step.need);
    request = step.next;
  }
  const ms = performance.now() - started;
  const fetched = resolveIds(server, need, Infinity);
  const exact = have.every((id) => !server.has(id)) && fetched.every((e) => !client.has(e.id)) &&
    have.length + fetched.length === d;
  const totalBytes = requestBytes + responseBytes;
  return {
    version,
    ids: client.size,
    differences: d,
    rounds: session.rounds,
    requestBytes,
    responseBytes,
    totalBytes,
    bytesPerDifference: Math.round(totalBytes / d),
    ms: Math.round(ms * 10) / 10,
    exact,
  };
}

/** Sessions as a region runs them (default budgets) until the two sets are equal. */
function sessions(client: IdTrie<string>, server: IdTrie<string>) {
  const out = [];
  for (let startAt = 0;; startAt++) {
    const session = new Reconciler(client, { startAt });
    let request: Uint8Array | null = session.start();
    let peak = 0;
    const have: Uint8Array[] = [], need: Uint8Array[] = [];
    while (request !== null) {
      const step = session.receive(respond(server, request));
      peak = Math.max(peak, session.outstanding);
      have.push(...step.have);
      need.push(...step.need);
      request = step.next;
    }
    out.push({
      rounds: session.rounds,
      bytes: session.bytes,
      peakRanges: peak,
      have: have.length,
      need: need.length,
    });
    if (have.length + need.length === 0) return out;
    have.slice(0, SESSION_DELTAS_MAX).forEach((id) => server.add(id, "b"));
    resolveIds(server, need.slice(0, SESSION_DELTAS_MAX), Infinity)
      .forEach((e) => client.add(e.id, "b"));
  }
}

const bySize = SIZES.map((n) => {
  const { client, server, buildMs } = buildPair(n, 100);
  return {
    buildBothTriesMs: buildMs,
    v2: run(client, server, 100, 2),
    v1: run(client, server, 100, 1),
  };
});
const at1M = DIFFERENCES_AT_1M.map((d) => {
  const { client, server } = buildPair(1_000_000, d);
  return { v2: run(client, server, d, 2), v1: run(client, server, d, 1) };
});
const large = buildPair(1_000_000, 10_000);
const regionSessions = {
  budgets: { bytes: SYNC_SESSION_BYTES_MAX, ranges: SYNC_SESSION_RANGES_MAX },
  sessions: sessions(large.client, large.server),
  equal: large.client.fingerprint([]).join() === large.server.fingerprint([]).join(),
};
console.log(JSON.stringify({ bench: "reconcile", bySize, at1M, regionSessions }));
