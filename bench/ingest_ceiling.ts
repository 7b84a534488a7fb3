/**
 * Where the ingest's ceiling is (issue 14's ratio target), in one process, no HTTP: the same
 * pre-signed deltas (100 authors, pushes of 100, 4 in flight) through
 *
 * - `verify`: parse + `verifyEd25519` only (the check every accepted delta carries);
 * - `store`: `DenoKvStore.putDeltas` only (the commit every accepted delta carries);
 * - `ingest`: the whole `ingest()` (parse, verify, rate-limit-free admission, store);
 *
 * each on a fresh Deno KV file, `BENCH_ROUNDS` times. Ratios are against `verify` in the same
 * round: `store_over_verify` is the most `ingest_over_verify` can be on this store.
 *
 *   deno run -A bench/ingest_ceiling.ts            # BENCH_DELTAS (default 20,000), BENCH_ROUNDS (3)
 */
import { verifyEd25519 } from "../src/crypto/mod.ts";
import { parseEnvelope } from "../src/protocol/envelope.ts";
import type { Envelope } from "../src/client/mesh_client.ts";
import { ingest } from "../src/region/ingest.ts";
import { DenoKvStore } from "../src/store/deno_kv_store.ts";
import type { StoredDelta } from "../src/store/region_store.ts";
import { benchAuthors, signedEnvelopes } from "./_signed_batches.ts";

const DELTAS = Number(Deno.env.get("BENCH_DELTAS") ?? 20_000);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 3);
const BATCH = 100;
const IN_FLIGHT = 4;

/** Runs `work` over `items` in batches of BATCH, IN_FLIGHT at a time; items per second. */
async function rate<T>(items: readonly T[], work: (batch: T[]) => Promise<unknown>) {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += BATCH) batches.push(items.slice(i, i + BATCH));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < batches.length) await work(batches[next++]);
    }),
  );
  return items.length / ((performance.now() - started) / 1000);
}

function stored(envelope: Envelope, nowMs: number): StoredDelta {
  const parsed = parseEnvelope(envelope, nowMs);
  if (!parsed.ok) throw new Error("a bench delta does not parse");
  const { channel, id, author, seq } = parsed.delta;
  return { channel, id, author, seq, body: envelope.body, sig: envelope.sig };
}

async function withStore<T>(work: (store: DenoKvStore) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "mesh-ceiling-" });
  const store = await DenoKvStore.open(`${dir}/kv.sqlite3`);
  try {
    return await work(store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const authors = await benchAuthors(100);
const rounds = [];
for (let round = 0; round < ROUNDS; round++) {
  const nowMs = Date.now();
  const envelopes = await signedEnvelopes(authors, `ceiling-${round}`, DELTAS);
  const verify = await rate(envelopes, (batch) =>
    Promise.all(batch.map((e) => {
      const p = parseEnvelope(e, nowMs);
      return p.ok ? verifyEd25519(p.publicKey, p.signature, p.message) : false;
    })));
  const rows = envelopes.map((e) => stored(e, nowMs));
  const store = await withStore((s) => rate(rows, (batch) => s.putDeltas(batch)));
  const whole = await withStore((s) =>
    rate(envelopes, (batch) => ingest(batch, s, verifyEd25519, nowMs))
  );
  rounds.push({
    verify_per_s: Math.round(verify),
    store_per_s: Math.round(store),
    ingest_per_s: Math.round(whole),
    store_over_verify: +(store / verify).toFixed(2),
    ingest_over_verify: +(whole / verify).toFixed(2),
  });
}
console.log(JSON.stringify(
  {
    bench: "ingest_ceiling",
    deltas: DELTAS,
    batch: BATCH,
    in_flight: IN_FLIGHT,
    load: Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number),
    rounds,
  },
  null,
  1,
));
