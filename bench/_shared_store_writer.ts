/**
 * One instance of `bench/shared_store.ts`: opens its own store on the shared data (a Deno KV
 * file, or the Upstash REST server), says `ready`, waits for `go` on stdin, then runs `agents`
 * concurrent writers that each push `batch` deltas at a time to a channel of its pool until it
 * has written `deltas`, and prints one JSON line: what it stored and how its commits went.
 */
import { DenoKvStore } from "../src/store/deno_kv_store.ts";
import {
  type PutOutcome,
  type RegionStore,
  type StoredDelta,
  StoreUnavailableError,
} from "../src/store/region_store.ts";
import { UpstashStore } from "../src/store/upstash_store.ts";
import { fakeAuthor, storedDelta } from "../test/support/deltas.ts";

export interface WriterConfig {
  readonly store: "denokv" | "upstash";
  /** Deno KV file, or the REST server's URL and token. */
  readonly path?: string;
  readonly url?: string;
  readonly token?: string;
  readonly instance: number;
  readonly deltas: number;
  readonly agents: number;
  readonly batch: number;
  /** The channels this instance writes to. */
  readonly channels: readonly string[];
  readonly seed: number;
}

export interface WriterReport {
  readonly instance: number;
  /** Deltas stored: accepted, or duplicate on a retry after a failed put (stored by it). */
  readonly accepted: number;
  readonly other: number;
  /** Puts that failed with StoreUnavailableError (a 503 to the agent, who retries). */
  readonly failed: number;
  readonly ms: number;
  readonly putMs: readonly number[];
  /** `DenoKvStore.commitStats` or `UpstashStore.putStats`. */
  readonly stats: Record<string, number>;
  /** Every id this instance stored, with its channel. */
  readonly ids: readonly [string, string][];
}

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function open(config: WriterConfig): Promise<RegionStore> {
  if (config.store === "denokv") return await DenoKvStore.open(config.path!);
  return new UpstashStore({ url: config.url!, token: config.token! });
}

/** The batches each agent pushes: its own author, fresh seqs per channel. */
function plan(config: WriterConfig): StoredDelta[][][] {
  const random = mulberry32(config.seed);
  const perAgent = Math.ceil(config.deltas / config.agents);
  return Array.from({ length: config.agents }, (_, a) => {
    const author = fakeAuthor(config.instance * 1_000 + a);
    const seqs = new Map<string, number>();
    const batches: StoredDelta[][] = [];
    for (let left = perAgent; left > 0; left -= config.batch) {
      const channel = config.channels[Math.floor(random() * config.channels.length)];
      const batch: StoredDelta[] = [];
      for (let k = 0; k < Math.min(config.batch, left); k++) {
        const seq = (seqs.get(channel) ?? 0) + 1;
        seqs.set(channel, seq);
        batch.push(storedDelta(channel, author, seq, `i${config.instance}`));
      }
      batches.push(batch);
    }
    return batches;
  });
}

/** Runs the writers of one instance on `store` once `go` resolves; closes nothing. */
export async function runWriter(
  store: RegionStore,
  config: WriterConfig,
  go: Promise<void>,
): Promise<WriterReport> {
  const work = plan(config);
  await go;
  const putMs: number[] = [];
  const ids: [string, string][] = [];
  let accepted = 0, other = 0, failed = 0;
  /** Puts `batch` as an agent would: again after a 503, up to 20 times. */
  const put = async (batch: StoredDelta[]): Promise<PutOutcome[]> => {
    for (let attempt = 1;; attempt++) {
      try {
        return await store.putDeltas(batch);
      } catch (error) {
        if (!(error instanceof StoreUnavailableError) || attempt >= 20) throw error;
        failed++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(work.map(async (batches) => {
    for (const batch of batches) {
      const t = performance.now();
      const outcomes = await put(batch);
      putMs.push(performance.now() - t);
      outcomes.forEach((o, i) => {
        // Every delta is this writer's own: a duplicate was stored by a put that failed.
        if (o.status === "accepted" || o.status === "duplicate") {
          accepted++;
          ids.push([batch[i].channel, batch[i].id]);
        } else other++;
      });
    }
  }));
  const ms = performance.now() - started;
  const stats = store instanceof DenoKvStore
    ? { ...store.commitStats }
    : { ...(store as UpstashStore).putStats };
  return { instance: config.instance, accepted, other, failed, ms, putMs, stats, ids };
}

async function main(): Promise<void> {
  const config = JSON.parse(Deno.args[0]) as WriterConfig;
  const store = await open(config);
  await store.ping();
  console.log("ready");
  const reader = Deno.stdin.readable.getReader();
  const go = reader.read().then(() => reader.releaseLock()); // "go"
  const report = await runWriter(store, config, go);
  await store.close();
  console.log(JSON.stringify(report));
}

if (import.meta.main) await main();
