/**
 * Denial-of-service figures of range reconciliation (issue 8, items 3, 5 and 6), in-process:
 *
 *   deno run -A bench/sync_dos.ts
 *
 * - insert: 100,000 "ground" ids (all sharing their first two bytes, as an author grinding bodies
 *   would make them) against 100,000 random ids, into an empty `IdTrie`; the ratio is the figure.
 * - request: one crafted ~13 KB request against a trie of 1,000 random + 100,000 ground ids:
 *   97 CHILDREN ranges (a) all naming the ground prefix itself, (b) 97 distinct ranges one nibble
 *   under it. Each is timed as `respond()` (refusal included), against an honest 2-nibble request.
 * - adversary: an honest leader holding 100,000 ids reconciles with a responder that answers every
 *   range with 16 random child fingerprints (version 1), or every asked sub-cell with a random
 *   cell (version 2); rounds, heap growth and CPU until the session ends (or
 *   `ADVERSARY_ROUNDS_MAX`, for code where it never ends).
 * - cells: version-2 requests against the same ground trie: the honest first request, and one
 *   range splitting the ground prefix (16 bits) into 65,536 sub-cells.
 * - channels: `RegionIndex.respond()` for a cached 20,000-delta channel, after 64 requests for
 *   empty channels.
 *
 * Prints one JSON line.
 */
import { ID_BYTES, IdTrie } from "../src/sync/id_trie.ts";
import * as sync from "../src/sync/range_reconcile.ts";
import {
  decodeFrame,
  encodeCellRequest,
  encodeFrame,
  Reconciler,
  ReconcilerV1,
  respond,
} from "../src/sync/range_reconcile.ts";
import { cellLiar } from "../test/support/sync_liar.ts";
import type { SyncRange } from "../src/sync/range_reconcile.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { RegionIndex } from "../src/mesh/region_index.ts";
import { encodeBase64Url } from "../src/protocol/base64url.ts";

const IDS = 100_000;
const ADVERSARY_ROUNDS_MAX = 60;
const CRAFTED_RANGES = 97;
const RANDOM_CHUNK_BYTES = 65_536;

function randomIds(n: number, ground: boolean): Uint8Array[] {
  const bytes = new Uint8Array(n * ID_BYTES);
  for (let o = 0; o < bytes.length; o += RANDOM_CHUNK_BYTES) {
    crypto.getRandomValues(bytes.subarray(o, o + RANDOM_CHUNK_BYTES));
  }
  return Array.from({ length: n }, (_, i) => {
    const id = bytes.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
    if (ground) id[0] = id[1] = 0;
    return id;
  });
}

function timed<T>(work: () => T): { ms: number; value: T } {
  const started = performance.now();
  const value = work();
  return { ms: Math.round((performance.now() - started) * 10) / 10, value };
}

function insert(ids: readonly Uint8Array[]): number {
  return timed(() => {
    const trie = new IdTrie<string>();
    for (const id of ids) trie.add(id, "b");
  }).ms;
}

const fp = () => crypto.getRandomValues(new Uint8Array(8));
const childrenOf = (prefix: number[]): SyncRange => ({
  kind: "children",
  prefix: Uint8Array.from(prefix),
  fingerprints: Array.from({ length: 16 }, fp),
});

function requestCost(trie: IdTrie<string>, ranges: SyncRange[]) {
  const request = encodeFrame({ deferred: 0, ranges });
  const { ms, value } = timed(() => {
    try {
      return respond(trie, request).length;
    } catch (error) {
      return (error as Error).name;
    }
  });
  return { requestBytes: request.length, ms, answer: value };
}

function requests() {
  const trie = new IdTrie<string>();
  for (const id of [...randomIds(1_000, false), ...randomIds(IDS, true)]) trie.add(id, "b");
  const honest = Array.from({ length: 16 }, (_, c) => childrenOf([c]));
  return {
    honest2Nibbles: requestCost(trie, honest),
    repeatedGroundRange: requestCost(
      trie,
      Array.from({ length: CRAFTED_RANGES }, () => childrenOf([0, 0, 0, 0])),
    ),
    distinctGroundRanges: requestCost(
      trie,
      Array.from({ length: CRAFTED_RANGES }, (_, i) => childrenOf([0, 0, 0, 0, i >> 4, i & 15])),
    ),
  };
}

/** Answers every requested range with 16 CHILDREN ranges (or one) of random fingerprints. */
function adversary(request: Uint8Array): Uint8Array {
  const asked = decodeFrame(request).ranges;
  const out: SyncRange[] = [];
  let bytes = 8, answered = 0;
  for (const range of asked) {
    const children = range.kind === "children"
      ? Array.from({ length: 16 }, (_, c) => [...range.prefix, c])
      : [[...range.prefix]];
    const answers = children.filter((p) => p.length < 64).map(childrenOf);
    const size = answers.reduce((s, a) => s + 4 + ((a.prefix.length + 1) >> 1) + 128, 0);
    if (bytes + size > 65_536 || out.length + answers.length > 1_024) break;
    out.push(...answers);
    bytes += size;
    answered++;
  }
  return encodeFrame({ deferred: asked.length - answered, ranges: out });
}

function adversarySession(version: 1 | 2) {
  const trie = new IdTrie<string>();
  for (const id of randomIds(IDS, false)) trie.add(id, "b");
  const heapBefore = Deno.memoryUsage().heapUsed;
  const started = performance.now();
  const reconciler = version === 1 ? new ReconcilerV1(trie) : new Reconciler(trie);
  const liar = version === 1 ? adversary : cellLiar(Math.random);
  let request: Uint8Array | null = reconciler.start();
  let rounds = 0, bytes = 0, ended = "round cap of the bench";
  try {
    while (request !== null && rounds < ADVERSARY_ROUNDS_MAX) {
      const response: Uint8Array = liar(request);
      bytes += request.length + response.length;
      rounds++;
      request = reconciler.receive(response).next as Uint8Array | null;
    }
    if (request === null) ended = "session over";
  } catch (error) {
    ended = `${(error as Error).name}: ${(error as Error).message}`;
  }
  const ms = performance.now() - started;
  const heapGrowthMiB = (Deno.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  return {
    rounds,
    bytes,
    ms: Math.round(ms),
    msPerRound: Math.round(ms / rounds),
    heapGrowthMiB: Math.round(heapGrowthMiB * 10) / 10,
    ended,
  };
}

function cellRequests() {
  const trie = new IdTrie<string>();
  for (const id of [...randomIds(1_000, false), ...randomIds(IDS, true)]) trie.add(id, "b");
  const cost = (request: Uint8Array) => {
    const { ms, value } = timed(() => respond(trie, request).length);
    return { requestBytes: request.length, ms, responseBytes: value };
  };
  const ground = {
    bits: 16,
    path: new Uint8Array(2),
    split: 16,
    listMax: 0,
    wide: false,
    mask: null,
    fingerprints: new Uint32Array(65_536),
  };
  return {
    honestFirst: cost(new Reconciler(trieOfRandom(1_000)).start()),
    groundSplit65536: cost(encodeCellRequest({ salt: new Uint8Array(8), ranges: [ground] })),
  };
}

function trieOfRandom(n: number): IdTrie<string> {
  const trie = new IdTrie<string>();
  for (const id of randomIds(n, false)) trie.add(id, "b");
  return trie;
}

async function channels() {
  const store = new MemoryStore();
  const index = new RegionIndex(store);
  const ids = randomIds(20_000, false);
  const deltas = ids.map((id, i) => ({
    id: encodeBase64Url(id),
    channel: "big",
    author: "a",
    seq: i + 1,
    body: "{}",
    sig: "",
  }));
  for (let i = 0; i < deltas.length; i += 1_000) await store.putDeltas(deltas.slice(i, i + 1_000));
  const request = new Reconciler(new IdTrie<string>()).start();
  const cold = await timedAsync(() => index.respond(request, "big"));
  const warm = await timedAsync(() => index.respond(request, "big"));
  for (let i = 0; i < 64; i++) await index.respond(request, `empty-${i}`);
  const afterEmpty = await timedAsync(() => index.respond(request, "big"));
  return { deltas: ids.length, coldMs: cold, warmMs: warm, afterEmptyChannelsMs: afterEmpty };
}

async function timedAsync(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return Math.round((performance.now() - started) * 10) / 10;
}

const ground = randomIds(IDS, true), random = randomIds(IDS, false);
insert(random.slice(0, 10_000)); // warm up
const groundMs = insert(ground), randomMs = insert(random);
console.log(JSON.stringify({
  bench: "sync_dos",
  limits: Object.fromEntries(Object.entries(sync).filter(([k]) => /^SYNC_[A-Z_]+$/.test(k))),
  insert: { ids: IDS, groundMs, randomMs, ratio: Math.round(groundMs / randomMs * 10) / 10 },
  requests: requests(),
  adversaryV1: adversarySession(1),
  adversaryV2: adversarySession(2),
  cells: cellRequests(),
  channels: await channels(),
}));
