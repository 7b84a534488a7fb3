/**
 * The pre-built store of bench/million_region.ts: one region's Deno KV file holding `deltas`
 * signed deltas (typical three-op deltas, `DELTA_AUTHORS` authors, each writing in one of
 * `channels` channels) and `cards` signed agent cards in `_registry` with their discovery index
 * and liveness records, as a region that had ingested and indexed them would hold them.
 *
 * Built fast, not through `ingest()`: the envelopes are signed with WebCrypto (real signatures a
 * region could re-verify), stored with `putDeltas` (the store's own delta path: arrivals, heads,
 * region log, channel directory), and the registry's index entries are written straight into the
 * store index in large atomic batches, with the keys and values the registry's indexer would
 * write for a first card (`index_layout.ts`), and its cursor set past the last card. Indexing 1M
 * cards one conditional write at a time took ~55 minutes (performance.md, 1,000,000 cards).
 *
 * A file `built.json` beside the store says what it holds; a store that matches is reused.
 */
import { parseAgentCard, REGISTRY_CHANNEL } from "../src/protocol/agent_card.ts";
import { deltaId } from "../src/protocol/delta.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import type { Envelope } from "../src/client/mesh_client.ts";
import { REGISTRY_CURSOR } from "../src/registry/indexer.ts";
import {
  cardKey,
  type CardRecord,
  cardTerms,
  entryKeys,
  seenKey,
} from "../src/registry/index_layout.ts";
import { DenoKvStore } from "../src/store/deno_kv_store.ts";
import type { StoredDelta } from "../src/store/region_store.ts";
import { benchAuthors, signNext, typicalOps } from "./_signed_batches.ts";
import { signedCard } from "./_registry_cards.ts";

/** Authors of the plain deltas; author `a` writes in channel `a % channels`. */
export const DELTA_AUTHORS = 10_000;
/** Envelopes signed and stored per batch (one `putDeltas`). */
const BATCH_DELTAS = 1_000;
/** Signatures in flight at once (WebCrypto runs them on its thread pool). */
const SIGN_CONCURRENCY = 250;
/** Mutations, key bytes and bytes per raw index commit (Deno KV: 1,000, 80 KiB and 800 KiB). */
const INDEX_COMMIT_MUTATIONS = 900;
const INDEX_COMMIT_KEY_BYTES = 60_000;
const INDEX_COMMIT_BYTES = 600_000;
/** Cards whose index entries are sorted and written together. */
const INDEX_SORT_CARDS = 10_000;
/** Seed of the cards (bench/registry.ts uses 10). */
const CARD_SEED = 14;

export interface MillionStoreSpec {
  readonly region: string;
  readonly deltas: number;
  readonly cards: number;
  readonly channels: number;
}

export interface BuiltStore extends MillionStoreSpec {
  readonly kvPath: string;
  readonly buildS: number;
  readonly fileMb: number;
  /** Channels that hold deltas, for view reads. */
  readonly channelNames: string[];
}

const log = (line: string) => console.error(`[${new Date().toISOString()}] ${line}`);

export function channelName(n: number): string {
  return `work.${String(n).padStart(5, "0")}`;
}

/** The store described by `spec` in `dir`, built now unless `dir/built.json` says it is there. */
export async function millionStore(dir: string, spec: MillionStoreSpec): Promise<BuiltStore> {
  const kvPath = `${dir}/${spec.region}.kv`;
  const marker = `${dir}/built.json`;
  try {
    const built = JSON.parse(await Deno.readTextFile(marker)) as BuiltStore;
    const same = (Object.keys(spec) as (keyof MillionStoreSpec)[]).every((k) =>
      built[k] === spec[k]
    );
    if (same) return built;
  } catch { /* not built yet */ }
  // The deltas take minutes: a build that stopped in the cards keeps them.
  const deltasMarker = `${dir}/deltas.json`;
  const deltasKey = JSON.stringify([spec.region, spec.deltas, spec.channels]);
  const deltasDone = await Deno.readTextFile(deltasMarker).then(
    (t) => t === deltasKey,
    () => false,
  );
  if (!deltasDone) {
    await Deno.remove(dir, { recursive: true }).catch(() => undefined);
    await Deno.mkdir(dir, { recursive: true });
  }
  const started = performance.now();
  const store = await DenoKvStore.open(kvPath);
  const raw = await Deno.openKv(kvPath);
  try {
    if (!deltasDone) {
      await storeDeltas(store, spec);
      await Deno.writeTextFile(deltasMarker, deltasKey);
    }
    const [cardsHeld] = await store.arrivalCounts([REGISTRY_CHANNEL]);
    if (cardsHeld > 0) throw new Error(`${kvPath} holds ${cardsHeld} cards of a stopped build`);
    await storeCards(store, raw, spec);
  } finally {
    raw.close();
    await store.close();
  }
  const built: BuiltStore = {
    ...spec,
    kvPath,
    buildS: Math.round((performance.now() - started) / 1000),
    fileMb: Math.round((await Deno.stat(kvPath)).size / 2 ** 20),
    channelNames: Array.from(
      { length: Math.min(spec.channels, DELTA_AUTHORS) },
      (_, i) => channelName(i),
    ),
  };
  await Deno.writeTextFile(marker, JSON.stringify(built, null, 1));
  return built;
}

/** The stored form of an envelope (what `ingest()` stores once it has checked it). */
function stored(envelope: Envelope): StoredDelta {
  const body = JSON.parse(envelope.body) as { author: string; seq: number; channel: string };
  return {
    id: deltaId(utf8Encode(envelope.body)),
    channel: body.channel,
    author: body.author,
    seq: body.seq,
    body: envelope.body,
    sig: envelope.sig,
  };
}

async function inBatches<T>(count: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += SIGN_CONCURRENCY) {
    const n = Math.min(SIGN_CONCURRENCY, count - i);
    out.push(...await Promise.all(Array.from({ length: n }, (_, k) => make(i + k))));
  }
  return out;
}

async function storeDeltas(store: DenoKvStore, spec: MillionStoreSpec): Promise<void> {
  const authors = await benchAuthors(DELTA_AUTHORS);
  const t0 = performance.now();
  for (let from = 0; from < spec.deltas; from += BATCH_DELTAS) {
    const count = Math.min(BATCH_DELTAS, spec.deltas - from);
    // Each author signs its deltas in seq order: one author at most once per batch.
    const envelopes = await inBatches(count, (k) => {
      const i = from + k;
      const a = i % DELTA_AUTHORS;
      return signNext(authors[a], channelName(a % spec.channels), typicalOps(i));
    });
    await store.putDeltas(envelopes.map(stored));
    if ((from + count) % 50_000 === 0) {
      const s = (performance.now() - t0) / 1000;
      log(`deltas: ${from + count} in ${s.toFixed(0)} s`);
    }
  }
}

async function storeCards(store: DenoKvStore, raw: Deno.Kv, spec: MillionStoreSpec) {
  const t0 = performance.now();
  const now = Date.now();
  let unindexed: StoredDelta[] = [];
  for (let from = 0; from < spec.cards; from += BATCH_DELTAS) {
    const count = Math.min(BATCH_DELTAS, spec.cards - from);
    // Card n announced n ms before the build: listings (newest first) then grow at their ends.
    const deltas = (await inBatches(count, (k) => signedCard(CARD_SEED, from + k, now - from - k)))
      .map(stored);
    await store.putDeltas(deltas);
    unindexed.push(...deltas);
    if (unindexed.length >= INDEX_SORT_CARDS || from + count >= spec.cards) {
      await indexCards(raw, unindexed, now, spec.region);
      unindexed = [];
    }
    if ((from + count) % 50_000 === 0) {
      const s = (performance.now() - t0) / 1000;
      log(`cards: ${from + count} in ${s.toFixed(0)} s`);
    }
  }
  const [arrivals] = await store.arrivalCounts([REGISTRY_CHANNEL]);
  await store.advanceCursor(REGISTRY_CURSOR, arrivals);
}

/** What the registry's indexer and liveness write for each first card (no earlier record). */
async function indexCards(
  raw: Deno.Kv,
  deltas: readonly StoredDelta[],
  seenTs: number,
  region: string,
) {
  const sets: [Deno.KvKey, string][] = [];
  for (const delta of deltas) {
    const body = JSON.parse(delta.body);
    const parsed = parseAgentCard(body.ops[0].value);
    if (!parsed.ok) throw new Error(`bench card refused: ${parsed.detail}`);
    const record: CardRecord = {
      id: delta.id,
      ts: body.ts,
      lc: body.lc,
      seq: body.seq,
      deleted: false,
      ...cardTerms(parsed.card),
    };
    sets.push([["x", ...cardKey(delta.author)], JSON.stringify(record)]);
    for (const key of entryKeys(delta.author, record)) sets.push([["x", ...key], ""]);
    sets.push([["x", ...seenKey(delta.author)], JSON.stringify({ ts: seenTs, region })]);
  }
  // In key order: each commit then touches few pages of the store's B-tree.
  const sortKey = (key: Deno.KvKey) => key.join("\u0000");
  const sorted = sets.map((s) => [sortKey(s[0]), s] as const)
    .sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0).map(([, s]) => s);
  let op = raw.atomic();
  let [mutations, keyBytes, bytes] = [0, 0, 0];
  for (const [key, value] of sorted) {
    // Deno KV: 1,000 mutations, 80 KiB of keys and 800 KiB in all per atomic operation.
    const k = key.reduce((sum: number, part) => sum + String(part).length + 2, 1);
    if (
      mutations >= INDEX_COMMIT_MUTATIONS || keyBytes + k > INDEX_COMMIT_KEY_BYTES ||
      bytes + k + value.length > INDEX_COMMIT_BYTES
    ) {
      if (!(await op.commit()).ok) throw new Error("index commit failed");
      [op, mutations, keyBytes, bytes] = [raw.atomic(), 0, 0, 0];
    }
    op.set(key, value);
    mutations++;
    keyBytes += k;
    bytes += k + value.length;
  }
  if (mutations > 0 && !(await op.commit()).ok) throw new Error("index commit failed");
}
