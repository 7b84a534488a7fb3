/**
 * Review of the equivocation-as-evidence change (854b5cc) and of author heads (45ac52c, issue
 * 16): random batches of deltas — fresh seqs, gaps, duplicates, second and third bodies for taken
 * seqs, repeats of a second half inside one batch, several channels mixed — go through every
 * store, and everything a store lets anyone observe must be the same: the outcome of each delta,
 * every author head, every channel's arrivals, the region log, the equivocation list and each
 * stored record. The Deno KV store is run three ways: one instance, batches sent concurrently to
 * one instance (group commit, chunks split by the atomic limits), and two instances on one
 * database taking turns (cold caches). The head must also equal the fold's highest contiguous seq
 * of the distinct seqs stored.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { AuthorHeads } from "../../src/crdt/author_heads.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type {
  DeltaOrigin,
  Equivocation,
  PutOutcome,
  RegionStore,
  StoredDelta,
} from "../../src/store/region_store.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";
import { redisAvailable } from "../support/redis_server.ts";
import { readLog } from "../support/region_log.ts";
import { startUpstashEnv } from "../support/upstash_rest_server.ts";

const AUTHORS = [1, 2, 3].map(fakeAuthor);
const CHANNELS = ["c1", "c2", "_equivocations"];

/** One delta of the random alphabet: author, channel, seq and which of three bodies. */
const deltaArb = fc.record({
  a: fc.integer({ min: 0, max: AUTHORS.length - 1 }),
  c: fc.integer({ min: 0, max: CHANNELS.length - 1 }),
  seq: fc.integer({ min: 1, max: 6 }),
  body: fc.integer({ min: 0, max: 2 }),
});
type Pick = { a: number; c: number; seq: number; body: number };
const batchesArb = fc.array(
  fc.record({
    deltas: fc.array(deltaArb, { minLength: 1, maxLength: 10 }),
    origin: fc.constantFrom<DeltaOrigin>("agent", "zone", "sync"),
  }),
  { minLength: 1, maxLength: 8 },
);

function toDelta(p: Pick): StoredDelta {
  return storedDelta(CHANNELS[p.c], AUTHORS[p.a], p.seq, p.body === 0 ? "" : `b${p.body}`);
}

interface Observed {
  outcomes: PutOutcome[][];
  heads: Record<string, unknown>;
  arrivals: Record<string, { id: string; arrival: number }[]>;
  log: { n: number; channel: string; id: string; origin: string }[];
  equivocations: Equivocation[];
  records: Record<string, StoredDelta | null>;
}

async function observe(
  store: RegionStore,
  outcomes: PutOutcome[][],
  all: readonly StoredDelta[],
): Promise<Observed> {
  const heads: Record<string, unknown> = {};
  const arrivals: Observed["arrivals"] = {};
  for (const channel of CHANNELS) {
    for (const author of AUTHORS) {
      heads[`${channel}/${author.slice(0, 6)}`] = await store.getHead(channel, author);
    }
    const page = await store.listArrivals(channel, 0, 1_000);
    arrivals[channel] = page.deltas.map((d) => ({ id: d.id, arrival: d.arrival }));
  }
  const log = await observeLog(store);
  const listed = (await store.listEquivocations(0, 1_000)).entries;
  assert.deepEqual(listed.map((e) => e.n), listed.map((_, i) => i + 1), "numbered 1, 2, 3 …");
  // The number says the order stored; which channel of one call a store writes first is its own
  // (Upstash goes channel by channel): each is named by call, channel and rank in it instead.
  const keys = equivocationKeys(outcomes, all);
  const equivocations = listed.map((e) => ({ ...e, n: keys.get(e.id) as unknown as number }))
    .sort((x, y) => (String(x.n) < String(y.n) ? -1 : 1));
  const records: Observed["records"] = {};
  for (const d of all) records[`${d.channel}/${d.id}`] = await store.getDelta(d.channel, d.id);
  return { outcomes, heads, arrivals, log, equivocations, records };
}

/**
 * The region log as a set (by id): which shard a store logs to is its own choice, and instances
 * taking turns log to several, so only the set is the same everywhere. Each shard is gapless.
 */
async function observeLog(store: RegionStore): Promise<Observed["log"]> {
  const entries = await readLog(store);
  for (const shard of new Set(entries.map((e) => e.shard))) {
    const ns = entries.filter((e) => e.shard === shard).map((e) => e.n);
    assert.deepEqual(ns, ns.map((_, i) => i + 1), `shard ${shard} is gapless`);
  }
  return entries.map(({ channel, id, origin }) => ({ n: 0, channel, id, origin }))
    .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

/** Each equivocation's id → "<call>:<channel>:<rank among the call's in that channel>". */
function equivocationKeys(outcomes: PutOutcome[][], all: readonly StoredDelta[]) {
  const keys = new Map<string, string>();
  let offset = 0;
  outcomes.forEach((outs, call) => {
    const ranks = new Map<string, number>();
    outs.forEach((o, i) => {
      if (o.status !== "equivocation") return;
      const d = all[offset + i];
      const rank = ranks.get(d.channel) ?? 0;
      ranks.set(d.channel, rank + 1);
      keys.set(d.id, `${call}:${d.channel}:${rank}`);
    });
    offset += outs.length;
  });
  return keys;
}

/** The fold's rule for each head: contiguous over the distinct seqs stored, max, and count. */
function expectedHeads(batches: readonly { deltas: readonly Pick[] }[]) {
  const expected: Record<string, unknown> = {};
  for (const channel of CHANNELS) {
    for (const author of AUTHORS) {
      const mine = batches.flatMap((b) => b.deltas).map(toDelta).filter((d) =>
        d.channel === channel && d.author === author
      );
      const key = `${channel}/${author.slice(0, 6)}`;
      if (mine.length === 0) {
        expected[key] = null;
        continue;
      }
      const seqs = [...new Set(mine.map((d) => d.seq))];
      const heads = new AuthorHeads();
      for (const s of seqs) heads.add(author, s);
      expected[key] = {
        contiguous: heads.heads().find(([a]) => a === author)?.[1] ?? 0,
        max: Math.max(...seqs),
        count: new Set(mine.map((d) => d.id)).size,
      };
    }
  }
  return expected;
}

async function runSequential(
  store: RegionStore,
  batches: readonly { deltas: readonly Pick[]; origin: DeltaOrigin }[],
  other?: RegionStore,
): Promise<PutOutcome[][]> {
  const outcomes: PutOutcome[][] = [];
  for (const [i, b] of batches.entries()) {
    const target = other !== undefined && i % 2 === 1 ? other : store;
    outcomes.push(await target.putDeltas(b.deltas.map(toDelta), b.origin));
  }
  return outcomes;
}

Deno.test({
  name:
    "review: memory, Deno KV (one instance, group commit, two instances) and Upstash stores observe alike for any batches with equivocations",
  ignore: !redisAvailable,
  async fn() {
    const env = await startUpstashEnv();
    const kvFile = await Deno.makeTempFile({ suffix: ".sqlite" });
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(batchesArb, async (batches) => {
          run++;
          const all = batches.flatMap((b) => b.deltas.map(toDelta));
          const memory = new MemoryStore();
          const memOut = await runSequential(memory, batches);
          const reference = await observe(memory, memOut, all);
          assert.deepEqual(reference.heads, expectedHeads(batches), "memory heads = fold heads");

          // Deno KV, one instance.
          const kv = await DenoKvStore.open(":memory:");
          try {
            const out = await runSequential(kv, batches);
            assert.deepEqual(await observe(kv, out, all), reference, "Deno KV = memory");
          } finally {
            await kv.close();
          }

          // Deno KV, all batches queued at once: one group commit (in batch order).
          const grouped = await DenoKvStore.open(":memory:");
          try {
            const out = await Promise.all(
              batches.map((b) => grouped.putDeltas(b.deltas.map(toDelta), b.origin)),
            );
            assert.deepEqual(
              await observe(grouped, out, all),
              reference,
              "Deno KV group commit = memory",
            );
          } finally {
            await grouped.close();
          }

          // Deno KV, two instances on one database taking turns.
          const prefix = [`run${run}`];
          const kv1 = new DenoKvStore(await Deno.openKv(kvFile), { prefix });
          const kv2 = new DenoKvStore(await Deno.openKv(kvFile), { prefix });
          try {
            const out = await runSequential(kv1, batches, kv2);
            assert.deepEqual(await observe(kv2, out, all), reference, "two KV instances = memory");
            assert.deepEqual(await observe(kv1, out, all), reference, "two KV instances = memory");
          } finally {
            await kv1.close();
            await kv2.close();
          }

          // Upstash.
          const upstash = new UpstashStore({
            url: env.rest.url,
            token: env.rest.token,
            prefix: `r${run}:`,
          });
          try {
            const out = await runSequential(upstash, batches);
            assert.deepEqual(await observe(upstash, out, all), reference, "Upstash = memory");
          } finally {
            await upstash.close();
          }
        }),
        { numRuns: 60 },
      );
    } finally {
      await env.stop();
      await Deno.remove(kvFile).catch(() => {});
    }
  },
});

/** Many authors, so a Deno KV write splits into several atomic chunks (≤ 100 checks each). */
const WIDE_AUTHORS = Array.from({ length: 130 }, (_, i) => fakeAuthor(1_000 + i));

Deno.test("review: Deno KV chunked and group-committed writes with second halves in later chunks match the memory store", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.array(
          fc.record({
            a: fc.integer({ min: 0, max: WIDE_AUTHORS.length - 1 }),
            seq: fc.integer({ min: 1, max: 3 }),
            body: fc.integer({ min: 0, max: 2 }),
            c: fc.integer({ min: 0, max: 1 }),
          }),
          { minLength: 1, maxLength: 400 },
        ),
        { minLength: 1, maxLength: 4 },
      ),
      async (batches) => {
        const toWide = (p: { a: number; seq: number; body: number; c: number }) =>
          storedDelta(
            ["w1", "w2"][p.c],
            WIDE_AUTHORS[p.a],
            p.seq,
            p.body === 0 ? "" : `b${p.body}`,
          );
        const memory = new MemoryStore();
        const expected: PutOutcome[][] = [];
        for (const b of batches) expected.push(await memory.putDeltas(b.map(toWide), "zone"));
        const kv = await DenoKvStore.open(":memory:");
        try {
          const got = await Promise.all(batches.map((b) => kv.putDeltas(b.map(toWide), "zone")));
          assert.deepEqual(got, expected, "outcomes");
          for (const channel of ["w1", "w2"]) {
            for (const author of WIDE_AUTHORS) {
              assert.deepEqual(
                await kv.getHead(channel, author),
                await memory.getHead(channel, author),
                `head ${channel}/${author}`,
              );
            }
            const ids = async (s: RegionStore) =>
              (await s.listArrivals(channel, 0, 5_000)).deltas.map((d) => d.id);
            assert.deepEqual(await ids(kv), await ids(memory), `arrivals ${channel}`);
          }
          const eq = async (s: RegionStore) => (await s.listEquivocations(0, 5_000)).entries;
          assert.deepEqual(await eq(kv), await eq(memory), "equivocations");
          const log = async (s: RegionStore) =>
            (await readLog(s, 1_000)).map(({ shard: _, ...e }) => e);
          assert.deepEqual(await log(kv), await log(memory), "log");
        } finally {
          await kv.close();
        }
      },
    ),
    { numRuns: 25 },
  );
});

Deno.test({
  name:
    "review: Upstash records an equivocation write whose answer was lost once, and a retry finds both halves duplicate",
  ignore: !redisAvailable,
  async fn() {
    const env = await startUpstashEnv();
    const store = new UpstashStore({ url: env.rest.url, token: env.rest.token });
    try {
      const A = AUTHORS[0];
      const first = storedDelta("c1", A, 1), second = storedDelta("c1", A, 1, "x");
      const third = storedDelta("c1", A, 1, "y");
      assert.deepEqual(await store.putDeltas([first]), [{ status: "accepted", arrival: 1 }]);
      // Redis runs the script and the answer is lost: the caller sees a failure.
      env.rest.faults.set({ mode: "http500", count: 1, afterApply: true });
      await assert.rejects(() => store.putDeltas([second, third, second]));
      env.rest.faults.reset();
      // The caller's retry (a new request) finds both stored, and nothing is recorded twice.
      assert.deepEqual((await store.putDeltas([second, third, second])).map((o) => o.status), [
        "duplicate",
        "duplicate",
        "duplicate",
      ]);
      const eq = (await store.listEquivocations(0, 100)).entries;
      assert.deepEqual(eq.map((e) => [e.n, e.id, e.existingId]), [
        [1, second.id, first.id],
        [2, third.id, first.id],
      ]);
      assert.equal((await readLog(store)).length, 3);
      assert.deepEqual(await store.getHead("c1", A), { contiguous: 1, max: 1, count: 3 });
    } finally {
      await store.close();
      await env.stop();
    }
  },
});

Deno.test("review: two Deno KV instances writing the same batches at once end with the memory store's set, heads and equivocations", async () => {
  const kvFile = await Deno.makeTempFile({ suffix: ".sqlite" });
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(batchesArb, async (batches) => {
        run++;
        const all = batches.flatMap((b) => b.deltas.map(toDelta));
        const memory = new MemoryStore();
        for (const b of batches) await memory.putDeltas(b.deltas.map(toDelta), b.origin);
        const prefix = [`conc${run}`];
        const kv1 = new DenoKvStore(await Deno.openKv(kvFile), { prefix });
        const kv2 = new DenoKvStore(await Deno.openKv(kvFile), { prefix });
        try {
          // Every batch goes to both instances at once: each delta is written by one of them.
          await Promise.all(
            batches.flatMap((b) => [
              kv1.putDeltas(b.deltas.map(toDelta), b.origin),
              kv2.putDeltas(b.deltas.map(toDelta), b.origin),
            ]),
          );
          for (const channel of CHANNELS) {
            const ids = async (s: RegionStore) =>
              (await s.listArrivals(channel, 0, 1_000)).deltas.map((d) => d.id).sort();
            assert.deepEqual(await ids(kv1), await ids(memory), `set of ${channel}`);
            for (const author of AUTHORS) {
              assert.deepEqual(
                await kv2.getHead(channel, author),
                await memory.getHead(channel, author),
              );
            }
          }
          const eq = async (s: RegionStore) =>
            (await s.listEquivocations(0, 1_000)).entries.map((e) =>
              `${e.channel} ${e.author} ${e.seq}`
            )
              .sort();
          // Which half holds the slot depends on the race; who equivocated where does not.
          assert.deepEqual(await eq(kv1), await eq(memory), "equivocations");
          const log = await readLog(kv1, 1_000);
          assert.equal(log.length, new Set(all.map((d) => d.id)).size, "one log entry per delta");
        } finally {
          await kv1.close();
          await kv2.close();
        }
      }),
      { numRuns: 30 },
    );
  } finally {
    await Deno.remove(kvFile).catch(() => {});
  }
});
