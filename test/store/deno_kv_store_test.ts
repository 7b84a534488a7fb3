import assert from "node:assert/strict";
import { takeTokens } from "../../src/store/region_store.ts";
import {
  chunkForAtomic,
  DenoKvStore,
  KV_ATOMIC_CHECKS_MAX,
  KV_ATOMIC_MUTATIONS_MAX,
} from "../../src/store/deno_kv_store.ts";
import type { DeltaOrigin, PutOutcome, StoredDelta } from "../../src/store/region_store.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";
import { failingKv } from "../support/failing_kv.ts";
import { assertLogMatchesArrivals, readLog, runStoreConformance } from "./conformance.ts";
import { writeLegacyKv } from "./_legacy_layout.ts";
import { FIRST_DATA_SHARD } from "../../src/store/region_log.ts";

runStoreConformance("DenoKvStore", async () => {
  const real = await Deno.openKv(":memory:");
  const faulty = failingKv(real);
  let armed = false;
  const store = new DenoKvStore(afterCommit(faulty.kv, () => {
    if (armed) [armed, faulty.failing] = [false, true];
  }));
  const reopened: DenoKvStore[] = [];
  return {
    store,
    reopen: () => {
      const again = new DenoKvStore(real, { ownsKv: false });
      reopened.push(again);
      return Promise.resolve(again);
    },
    faults: {
      fail: () => void (faulty.failing = true),
      heal: () => void (faulty.failing = false),
      failAfterWrite: () => void (armed = true),
    },
    writeLegacy: (deltas) => writeLegacyKv(real, deltas),
    cleanup: async () => {
      for (const r of reopened) await r.close();
      await store.close();
    },
  };
});

/** `kv`, calling `then` after each successful atomic commit (before its caller sees it). */
function afterCommit(kv: Deno.Kv, then: () => void): Deno.Kv {
  const wrap = (op: Deno.AtomicOperation): Deno.AtomicOperation => {
    const proxy: Deno.AtomicOperation = new Proxy(op, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (prop === "commit") {
          return async () => {
            const result = await target.commit();
            if (result.ok) then();
            return result;
          };
        }
        return (...args: unknown[]) => {
          value.apply(target, args);
          return proxy;
        };
      },
    });
    return proxy;
  };
  return new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "atomic") return () => wrap(target.atomic());
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** `kv`, counting reads (get, getMany, list) in `reads.count`. */
function countingReads(kv: Deno.Kv): { kv: Deno.Kv; reads: { count: number } } {
  const reads = { count: 0 };
  const counted = new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "get" || prop === "getMany" || prop === "list") {
        return (...args: unknown[]) => {
          reads.count++;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return { kv: counted, reads };
}

Deno.test("chunkForAtomic() keeps each chunk within Deno KV's check limit", () => {
  const batch = Array.from(
    { length: 250 },
    (_, i) => storedDelta("c", fakeAuthor(i), 1),
  );
  const chunks = chunkForAtomic(batch);
  assert.ok(chunks.length >= 3);
  for (const chunk of chunks) {
    // The channel counter, one head per author, two log shards' counters, the equivocation
    // counter and the legacy log's counter it numbers above.
    assert.ok(1 + chunk.length + 4 <= KV_ATOMIC_CHECKS_MAX);
  }
  assert.deepEqual(chunks.flat(), batch);
});

Deno.test("chunkForAtomic() keeps each chunk within Deno KV's mutation limit", () => {
  const batch = Array.from({ length: 1_000 }, (_, i) => storedDelta("c", fakeAuthor(1), i + 1));
  const chunks = chunkForAtomic(batch);
  for (const chunk of chunks) {
    // Record, id pointer, seq slot, log entry and (for an equivocation) its entry per delta;
    // channel counter, head, two log shards' counters, the equivocation counter.
    assert.ok(5 * chunk.length + 5 <= KV_ATOMIC_MUTATIONS_MAX, `${chunk.length} deltas`);
  }
  assert.equal(chunks[0].length, Math.floor((KV_ATOMIC_MUTATIONS_MAX - 6) / 5));
  assert.deepEqual(chunks.flat(), batch);
});

Deno.test("DenoKvStore.putDeltas() of fresh seqs on a warm instance reads nothing", async () => {
  const { kv, reads } = countingReads(await Deno.openKv(":memory:"));
  const store = new DenoKvStore(kv);
  try {
    const seqs = (from: number) =>
      Array.from({ length: 10 }, (_, i) => storedDelta(`c${i % 2}`, fakeAuthor(i % 3), from + i));
    await store.putDeltas(seqs(1));
    const before = reads.count;
    assert.ok((await store.putDeltas(seqs(11), "zone")).every((o) => o.status === "accepted"));
    assert.equal(reads.count, before, "channel counters, heads and the log counter are cached");
    assert.equal(await store.logHead(), 20);
  } finally {
    await store.close();
  }
});

Deno.test("DenoKvStore keeps deltas across reopening a file database", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/region.kv`;
    const first = await DenoKvStore.open(path);
    const d = storedDelta("c", fakeAuthor(1), 1);
    await first.putDeltas([d]);
    await first.close();
    const second = await DenoKvStore.open(path);
    assert.deepEqual(await second.getDelta("c", d.id), d);
    assert.deepEqual(await second.putDeltas([d]), [{ status: "duplicate" }]);
    await second.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two DenoKvStore instances on one database stay exact while each caches channel state", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/shared.kv`;
  const a = await DenoKvStore.open(path), b = await DenoKvStore.open(path);
  try {
    const author = fakeAuthor(7);
    const seqs = (from: number, to: number, salt = "") =>
      Array.from({ length: to - from + 1 }, (_, i) => storedDelta("c", author, from + i, salt));
    assert.ok((await a.putDeltas(seqs(1, 5))).every((o) => o.status === "accepted"));
    // b writes behind a's back: a's cached head and counter are now stale.
    assert.deepEqual(
      (await b.putDeltas(seqs(6, 10))).map((o) => o.status),
      Array(5).fill("accepted"),
    );
    assert.deepEqual(await a.putDeltas(seqs(11, 11)), [{ status: "accepted", arrival: 11 }]);
    assert.deepEqual(await a.putDeltas(seqs(8, 8)), [{ status: "duplicate" }]);
    const rival = storedDelta("c", author, 9, "rival");
    assert.deepEqual(await a.putDeltas([rival]), [
      { status: "equivocation", arrival: 12, existingId: seqs(9, 9)[0].id },
    ]);
    assert.deepEqual(await b.getHead("c", author), { contiguous: 11, max: 11, count: 12 });
    // Both push the same fresh deltas at once: each is stored exactly once, arrivals gapless.
    const both = seqs(12, 61);
    const [ra, rb] = await Promise.all([a.putDeltas(both), b.putDeltas(both)]);
    for (let i = 0; i < both.length; i++) {
      assert.deepEqual([ra[i].status, rb[i].status].sort(), ["accepted", "duplicate"]);
    }
    const page = await a.listArrivals("c", 0, 1000);
    assert.deepEqual(
      page.deltas.map((d) => d.arrival),
      Array.from({ length: 62 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      page.deltas.filter((d) => d.id !== rival.id).map((d) => d.seq),
      Array.from({ length: 61 }, (_, i) => i + 1),
    );
    assert.deepEqual(await a.getHead("c", author), { contiguous: 61, max: 61, count: 62 });
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two DenoKvStore instances on one database keep one gapless log with each delta once", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/shared.kv`;
  const a = await DenoKvStore.open(path), b = await DenoKvStore.open(path);
  try {
    const channels = ["a0", "a1", "b0", "b1", "s"];
    // Writers 0 and 1 of each instance write channels of their own, so that commits of the two
    // instances often share no channel counter; both instances' writer 2 pushes the same deltas.
    const writer = async (store: DenoKvStore, origin: DeltaOrigin, side: string, w: number) => {
      const mine: [StoredDelta, PutOutcome][] = [];
      for (let round = 0; round < 5; round++) {
        const batch = Array.from(
          { length: 8 },
          (_, k) =>
            w === 2
              ? storedDelta("s", fakeAuthor(99), round * 8 + k + 1)
              : storedDelta(`${side}${w}`, fakeAuthor(w), round * 8 + k + 1),
        );
        const out = await store.putDeltas(batch, origin);
        batch.forEach((d, i) => mine.push([d, out[i]]));
      }
      return mine.map(([d, o]) => ({ d, o, origin }));
    };
    const results = (await Promise.all([
      ...[0, 1, 2].map((w) => writer(a, "agent", "a", w)),
      ...[0, 1, 2].map((w) => writer(b, "zone", "b", w)),
    ])).flat();
    const accepted = results.filter((r) => r.o.status === "accepted");
    assert.equal(accepted.length, 5 * 5 * 8, "each delta is accepted by exactly one instance");
    assert.equal(await assertLogMatchesArrivals(a, channels), accepted.length);
    const log = await readLog(b);
    const originOf = new Map(accepted.map((r) => [r.d.id, r.origin]));
    assert.equal(originOf.size, log.length);
    for (const e of log) assert.equal(e.origin, originOf.get(e.id));
    assert.equal(await b.logHead(), log.length);
    // Warm caches on both sides stay exact: the next write of each lands at the head.
    await a.putDeltas([storedDelta("b0", fakeAuthor(9), 1)]);
    await b.putDeltas([storedDelta("a0", fakeAuthor(9), 1)]);
    assert.equal(await assertLogMatchesArrivals(b, channels), accepted.length + 2);
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two DenoKvStore instances on one database grant a lease once and keep cursors at the max", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/shared.kv`;
  const a = await DenoKvStore.open(path), b = await DenoKvStore.open(path);
  try {
    const T0 = 1_700_000_000_000;
    for (const [round, nowMs] of [T0, T0 + 1_000].entries()) {
      const asks = Array.from(
        { length: 8 },
        (_, i) => ({ store: i % 2 ? a : b, holder: `i-${i}` }),
      );
      const leases = await Promise.all(
        asks.map(({ store, holder }) => store.acquireLease("leader", holder, 1_000, nowMs)),
      );
      const winners = asks.filter(({ holder }, i) => leases[i].holder === holder);
      assert.equal(winners.length, 1);
      for (const lease of leases) assert.equal(lease.epoch, round + 1);
    }
    const targets = Array.from({ length: 30 }, (_, i) => (i * 7) % 30 + 1);
    await Promise.all(targets.map((n, i) => (i % 2 ? a : b).advanceCursor("fanout:x", n)));
    assert.equal(await a.getCursor("fanout:x"), 30);
    assert.equal(await b.advanceCursor("fanout:x", 12), 30);
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two DenoKvStore instances on one database draw from one token bucket, never past its burst", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/shared.kv`;
  const a = await DenoKvStore.open(path), b = await DenoKvStore.open(path);
  try {
    const T0 = 1_700_000_000_000;
    const burst = 30;
    const grants = await Promise.all(
      Array.from(
        { length: 16 },
        (_, i) =>
          (i % 2 ? a : b).takeTokensMany(
            Array.from(
              { length: 4 },
              () => ({ bucket: "push:addr:x", cost: 1, ratePerSecond: 1, burst }),
            ),
            T0,
          ),
      ),
    );
    assert.equal(grants.flat().filter((g) => g.allowed).length, burst);
    // Neither instance caches a bucket: one second later both see the one refilled token.
    assert.equal((await takeTokens(a, "push:addr:x", 1, 1, burst, T0 + 1_000)).allowed, true);
    assert.equal((await takeTokens(b, "push:addr:x", 1, 1, burst, T0 + 1_000)).allowed, false);
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("takeTokens(DenoKvStore, ) leaves the channel cache warm: the next fresh put reads nothing", async () => {
  const { kv, reads } = countingReads(await Deno.openKv(":memory:"));
  const store = new DenoKvStore(kv);
  try {
    await store.putDeltas([storedDelta("c", fakeAuthor(1), 1)]);
    await store.takeTokensMany(
      Array.from({ length: 150 }, (_, i) => ({
        bucket: `push:author:${i}`,
        cost: 1,
        ratePerSecond: 1,
        burst: 5,
      })),
      1_700_000_000_000,
    );
    const before = reads.count;
    assert.deepEqual(await store.putDeltas([storedDelta("c", fakeAuthor(1), 2)]), [
      { status: "accepted", arrival: 2 },
    ]);
    assert.equal(reads.count, before);
  } finally {
    await store.close();
  }
});

Deno.test("DenoKvStore repairs a head an older version left short: at once on read, stored on the next write", async () => {
  const kv = await Deno.openKv(":memory:");
  const A = fakeAuthor(1);
  try {
    const first = new DenoKvStore(kv, { ownsKv: false });
    await first.putDeltas([1, 2, 3, 4, 5, 6].map((s) => storedDelta("c", A, s)));
    await first.close();
    // What the code before issue 16's fix stored after seqs 1, 2, 5, 6 and then [3, 4].
    await kv.set(["h", "c", A], { contiguous: 4, max: 6, count: 6 });
    const store = new DenoKvStore(kv, { ownsKv: false });
    assert.deepEqual(await store.getHead("c", A), { contiguous: 6, max: 6, count: 6 });
    await store.putDeltas([storedDelta("c", A, 8)]);
    assert.deepEqual((await kv.get(["h", "c", A])).value, { contiguous: 6, max: 8, count: 7 });
    await store.close();
  } finally {
    kv.close();
  }
});

Deno.test("DenoKvStore instances that start on one log shard move apart after a lost race and stop colliding", async () => {
  const kv = await Deno.openKv(":memory:");
  const stores = [0, 1, 2, 3].map(() =>
    new DenoKvStore(kv, { ownsKv: false, logShard: FIRST_DATA_SHARD })
  );
  try {
    // Each instance writes channels of its own: only the log shard can be a shared key.
    const round = (r: number) =>
      Promise.all(
        stores.map((store, i) => store.putDeltas([storedDelta(`own${i}`, fakeAuthor(i), r + 1)])),
      );
    for (let r = 0; r < 40; r++) await round(r);
    const shards = stores.map((s) => s.logShard);
    assert.equal(new Set(shards).size, stores.length, `apart: ${shards}`);
    const before = stores.map((s) => s.commitStats.conflicts);
    for (let r = 40; r < 60; r++) await round(r);
    assert.deepEqual(stores.map((s) => s.commitStats.conflicts), before, "no more conflicts");
    const channels = stores.map((_, i) => `own${i}`);
    assert.equal(await assertLogMatchesArrivals(stores[0], channels), 4 * 60);
  } finally {
    for (const store of stores) await store.close();
    kv.close();
  }
});

Deno.test("DenoKvStore counts a commit that lost a race as a conflict, not a failure", async () => {
  const kv = await Deno.openKv(":memory:");
  const a = new DenoKvStore(kv, { ownsKv: false }), b = new DenoKvStore(kv, { ownsKv: false });
  try {
    await a.putDeltas([storedDelta("c", fakeAuthor(1), 1)]); // a caches c's counter
    await b.putDeltas([storedDelta("c", fakeAuthor(2), 1)]); // ... which b moves
    assert.deepEqual(await a.putDeltas([storedDelta("c", fakeAuthor(1), 2)]), [
      { status: "accepted", arrival: 3 },
    ]);
    assert.deepEqual(a.commitStats, { commits: 2, attempts: 3, conflicts: 1, locked: 0 });
    assert.throws(() => new DenoKvStore(kv, { ownsKv: false, logShard: 1 }), RangeError);
  } finally {
    await a.close();
    await b.close();
    kv.close();
  }
});
