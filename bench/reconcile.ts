/**
 * Range reconciliation, in-process: two tries of N ids differing by 100 (50 only on each side,
 * spread at random) reconcile through `Reconciler` and `respond()`, for N = 10k, 100k and 1M.
 *
 *   deno run -A bench/reconcile.ts
 *
 * Prints one JSON line: per N and server `idListMax`, the rounds, request/response/total frame
 * bytes, the reconcile time, the time to build both tries, and the ratio to a full id-list
 * exchange (32 bytes × N). Targets at 1M: ≤ 5 rounds and ≤ 64 KiB.
 */
import { ID_BYTES, IdTrie } from "../src/sync/id_trie.ts";
import { ID_LIST_MAX, Reconciler, resolveIds, respond } from "../src/sync/range_reconcile.ts";

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
function buildPair(n: number): { client: IdTrie<string>; server: IdTrie<string>; ms: number } {
  const own = DIFFERENCE / 2;
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
console.log(JSON.stringify({ bench: "reconcile", difference: DIFFERENCE, results }));
