/**
 * One conformance suite for every RegionStore implementation. Each implementation's test file
 * calls `runStoreConformance` with a factory that opens a fresh, empty store.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { DELTA_BODY_BYTES_MAX } from "../../src/protocol/limits.ts";
import {
  ARRIVAL_COUNTS_CHANNELS_MAX,
  CHANGE_MARKS_CHANNELS_MAX,
  type Lease,
  type RegionStore,
  type StoredDelta,
  StoreUnavailableError,
  takeTokens,
} from "../../src/store/region_store.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";
import { headCases } from "./_head_cases.ts";
import { indexCases } from "./_index_cases.ts";
import { logCases, readLog } from "./_log_cases.ts";

/** A fresh store and, when the implementation can simulate outages, a switch for them. */
export interface StoreFixture {
  readonly store: RegionStore;
  /** Makes the store fail (as unreachable) until `heal()`; absent when not supported. */
  readonly faults?: {
    fail(): void | Promise<void>;
    heal(): void | Promise<void>;
    /**
     * Lets the next write land and then fails (until `heal()`), so a `putDeltas` that takes
     * several writes stops part-way. Absent when a store writes a batch in one step.
     */
    failAfterWrite?(): void | Promise<void>;
  };
  /**
   * A new store instance on the same data, as after a restart (cold caches); absent when the
   * data does not outlive the instance. `cleanup` closes what it returns.
   */
  reopen?(): Promise<RegionStore>;
  /**
   * Stores `deltas` (in an empty store) as a store written before the log was sharded (issue 13)
   * held them: every log entry in the one log, shard 0, and equivocations numbered by their log
   * entry. Absent when the implementation cannot.
   */
  writeLegacy?(deltas: readonly StoredDelta[]): Promise<void>;
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  /** Skip every case (e.g. the backing server is not installed); counted as ignored. */
  readonly ignore?: boolean;
}

export function runStoreConformance(
  name: string,
  open: () => Promise<StoreFixture>,
  options: ConformanceOptions = {},
): void {
  const test = (title: string, fn: (f: StoreFixture) => Promise<void>) =>
    Deno.test({
      name: `${name}: ${title}`,
      ignore: options.ignore ?? false,
      async fn() {
        const fixture = await open();
        try {
          await fn(fixture);
        } finally {
          await fixture.cleanup();
        }
      },
    });

  const A = fakeAuthor(1), B = fakeAuthor(2);
  headCases(test);
  indexCases(test);
  logCases(test);

  test("putDeltas() accepts new deltas and numbers arrivals per channel from 1", async ({ store }) => {
    const out = await store.putDeltas([
      storedDelta("c1", A, 1),
      storedDelta("c2", A, 1),
      storedDelta("c1", A, 2),
    ]);
    assert.deepEqual(out, [
      { status: "accepted", arrival: 1 },
      { status: "accepted", arrival: 1 },
      { status: "accepted", arrival: 2 },
    ]);
    const more = await store.putDeltas([storedDelta("c1", B, 1)]);
    assert.deepEqual(more, [{ status: "accepted", arrival: 3 }]);
  });

  test("arrivalCounts() counts each channel's stored deltas, evidence included, 0 when none", async ({ store }) => {
    assert.deepEqual(await store.arrivalCounts([]), []);
    await store.putDeltas([
      storedDelta("c1", A, 1),
      storedDelta("c2", A, 1),
      storedDelta("c1", A, 2),
      storedDelta("c1", A, 2, "second body"),
    ]);
    const many = Array.from({ length: 25 }, (_, i) => `none-${i}`);
    assert.deepEqual(await store.arrivalCounts(["c1", "nothing", "c2", "c1", ...many]), [
      3,
      0,
      1,
      3,
      ...many.map(() => 0),
    ]);
    await assert.rejects(
      () => store.arrivalCounts(Array.from({ length: ARRIVAL_COUNTS_CHANNELS_MAX + 1 }, () => "c")),
      RangeError,
    );
  });

  test("changeMarks() reads arrivals as arrivalCounts does, and a mark that rises with each equivocation", async ({ store }) => {
    assert.deepEqual(await store.changeMarks([]), { arrivals: [], equivocations: 0 });
    await store.putDeltas([storedDelta("c1", A, 1), storedDelta("c2", A, 1)]);
    const before = await store.changeMarks(["c1", "nothing", "c2"]);
    assert.deepEqual(before.arrivals, [1, 0, 1]);
    await store.putDeltas([storedDelta("c1", A, 2), storedDelta("c1", B, 1)]);
    const plain = await store.changeMarks(["c1"]);
    assert.deepEqual(plain, { arrivals: [3], equivocations: before.equivocations });
    await store.putDeltas([storedDelta("c2", A, 1, "second body")]);
    const first = await store.changeMarks(["c2", "c1"]);
    assert.deepEqual(first.arrivals, [2, 3]);
    assert.ok(first.equivocations > before.equivocations);
    await store.putDeltas([storedDelta("c1", B, 1, "second body")]);
    const second = await store.changeMarks(["c1"]);
    assert.ok(second.equivocations > first.equivocations);
    // A reader caught up to a mark knows every equivocation stored at or below the channels'.
    const listed = await store.listEquivocations(0, 10);
    assert.equal(listed.entries.length, 2);
    await assert.rejects(
      () => store.changeMarks(Array.from({ length: CHANGE_MARKS_CHANNELS_MAX + 1 }, () => "c")),
      RangeError,
    );
  });

  test("putDeltas() reports repeats as duplicate, within a batch and across batches", async ({ store }) => {
    const d = storedDelta("c", A, 1);
    assert.deepEqual(await store.putDeltas([d, d]), [
      { status: "accepted", arrival: 1 },
      { status: "duplicate" },
    ]);
    assert.deepEqual(await store.putDeltas([d]), [{ status: "duplicate" }]);
    const page = await store.listArrivals("c", 0, 10);
    assert.equal(page.deltas.length, 1);
    assert.deepEqual(await store.getHead("c", A), {
      contiguous: 1,
      max: 1,
      count: 1,
    });
  });

  test("putDeltas() stores a second body for a taken seq as an equivocation beside the first", async ({ store }) => {
    const first = storedDelta("c", A, 1, "first");
    const second = storedDelta("c", A, 1, "second");
    assert.deepEqual(await store.putDeltas([first, second, second]), [
      { status: "accepted", arrival: 1 },
      { status: "equivocation", arrival: 2, existingId: first.id },
      { status: "duplicate" },
    ]);
    assert.deepEqual(await store.putDeltas([second, first]), [
      { status: "duplicate" },
      { status: "duplicate" },
    ]);
    assert.deepEqual(await store.getDelta("c", first.id), first);
    assert.deepEqual(await store.getDelta("c", second.id), second);
    assert.deepEqual((await store.listArrivals("c", 0, 10)).deltas.map((d) => d.id), [
      first.id,
      second.id,
    ]);
    // The slot keeps the first: contiguous and max stay, count counts both bodies.
    assert.deepEqual(await store.getHead("c", A), { contiguous: 1, max: 1, count: 2 });
    const log = await readLog(store);
    assert.deepEqual(log.map((e) => e.id), [first.id, second.id]);
    assert.deepEqual(await store.listEquivocations(0, 10), {
      entries: [{ n: 1, author: A, channel: "c", seq: 1, id: second.id, existingId: first.id }],
      cursor: 1,
      more: false,
    });
  });

  test("getDelta() returns the exact record and null for unknown ids or channels", async ({ store }) => {
    const d = storedDelta("c", A, 1, 'ünïcødé ✓ \u2028 "quoted"');
    await store.putDeltas([d]);
    assert.deepEqual(await store.getDelta("c", d.id), d);
    assert.equal(await store.getDelta("other", d.id), null);
    assert.equal(await store.getDelta("c", storedDelta("c", A, 2).id), null);
  });

  test("listArrivals() pages in arrival order with stable cursors", async ({ store }) => {
    const all = Array.from(
      { length: 25 },
      (_, i) => storedDelta("c", fakeAuthor(i % 3), i + 1),
    );
    await store.putDeltas(all.slice(0, 10));
    await store.putDeltas(all.slice(10));
    const seen: StoredDelta[] = [];
    let cursor = 0;
    for (let pages = 0;; pages++) {
      assert.ok(pages < 10, "pagination must terminate");
      const page = await store.listArrivals("c", cursor, 7);
      page.deltas.forEach((d, i) => assert.equal(d.arrival, cursor + i + 1));
      for (const { arrival: _, ...d } of page.deltas) seen.push(d);
      cursor = page.cursor;
      if (!page.more) break;
    }
    assert.deepEqual(seen, all);
    assert.deepEqual(await store.listArrivals("c", cursor, 7), {
      deltas: [],
      cursor,
      more: false,
    });
    assert.deepEqual(await store.listArrivals("empty", 0, 7), {
      deltas: [],
      cursor: 0,
      more: false,
    });
    const exact = await store.listArrivals("c", 18, 7);
    assert.equal(exact.deltas.length, 7);
    assert.equal(exact.more, false);
  });

  test("getHead() tracks contiguous seq, max and count through gaps filled later", async ({ store }) => {
    assert.equal(await store.getHead("c", A), null);
    await store.putDeltas([storedDelta("c", A, 3), storedDelta("c", A, 5)]);
    assert.deepEqual(await store.getHead("c", A), {
      contiguous: 0,
      max: 5,
      count: 2,
    });
    await store.putDeltas([storedDelta("c", A, 1)]);
    assert.deepEqual(await store.getHead("c", A), {
      contiguous: 1,
      max: 5,
      count: 3,
    });
    await store.putDeltas([storedDelta("c", A, 2)]);
    assert.deepEqual(await store.getHead("c", A), {
      contiguous: 3,
      max: 5,
      count: 4,
    });
    await store.putDeltas([storedDelta("c", A, 6), storedDelta("c", A, 4)]);
    assert.deepEqual(await store.getHead("c", A), {
      contiguous: 6,
      max: 6,
      count: 6,
    });
    assert.equal(await store.getHead("other", A), null);
  });

  test("putDeltas() of one delta from many writers at once stores it exactly once", async ({ store }) => {
    const d = storedDelta("c", A, 1);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => store.putDeltas([d])),
    );
    const statuses = results.map((r) => r[0].status).sort();
    assert.deepEqual(statuses, ["accepted", ...Array(11).fill("duplicate")]);
    assert.equal((await store.listArrivals("c", 0, 100)).deltas.length, 1);
    assert.deepEqual(await store.getHead("c", A), {
      contiguous: 1,
      max: 1,
      count: 1,
    });
  });

  test("putDeltas() of rival bodies for one seq at once keeps one slot holder and stores every body", async ({ store }) => {
    const rivals = Array.from(
      { length: 8 },
      (_, i) => storedDelta("c", A, 1, `rival-${i}`),
    );
    const results = await Promise.all(rivals.map((d) => store.putDeltas([d])));
    const accepted = results.filter((r) => r[0].status === "accepted");
    assert.equal(accepted.length, 1);
    const winner = rivals[results.findIndex((r) => r[0].status === "accepted")];
    for (const r of results) {
      if (r[0].status !== "accepted") {
        assert.equal(r[0].status, "equivocation");
        assert.equal((r[0] as { existingId: string }).existingId, winner.id);
      }
    }
    for (const d of rivals) assert.deepEqual(await store.getDelta("c", d.id), d);
    const arrivals = (await store.listArrivals("c", 0, 100)).deltas;
    assert.deepEqual(arrivals.map((d) => d.arrival), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal((await store.listEquivocations(0, 100)).entries.length, 7);
    assert.deepEqual(await store.getHead("c", A), { contiguous: 1, max: 1, count: 8 });
  });

  test("putDeltas() from concurrent writers to one channel numbers arrivals without gaps", async ({ store }) => {
    const writers = 6, each = 15;
    await Promise.all(Array.from({ length: writers }, async (_, w) => {
      for (let s = 1; s <= each; s += 5) {
        await store.putDeltas(
          Array.from(
            { length: 5 },
            (_, k) => storedDelta("c", fakeAuthor(w), s + k),
          ),
        );
      }
    }));
    const page = await store.listArrivals("c", 0, 1000);
    assert.deepEqual(
      page.deltas.map((d) => d.arrival),
      Array.from({ length: writers * each }, (_, i) => i + 1),
    );
    for (let w = 0; w < writers; w++) {
      assert.deepEqual(await store.getHead("c", fakeAuthor(w)), {
        contiguous: each,
        max: each,
        count: each,
      });
    }
  });

  test("putDeltas() stores a batch larger than one atomic write, in order", async ({ store }) => {
    const batch = Array.from(
      { length: 300 },
      (_, i) => storedDelta(`c${i % 7}`, fakeAuthor(i % 150), Math.floor(i / 150) + 1),
    );
    const out = await store.putDeltas(batch);
    assert.ok(out.every((o) => o.status === "accepted"));
    let total = 0;
    for (let c = 0; c < 7; c++) {
      total += (await store.listArrivals(`c${c}`, 0, 1000)).deltas.length;
    }
    assert.equal(total, 300);
  });

  test("putDeltas() stores a batch of maximal bodies", async ({ store }) => {
    const big = Array.from({ length: 100 }, (_, i) => {
      const d = storedDelta("c", A, i + 1);
      const pad = "x".repeat(DELTA_BODY_BYTES_MAX - d.body.length - 10);
      return storedDelta("c", A, i + 1, pad);
    });
    assert.ok(big.every((d) => d.body.length <= DELTA_BODY_BYTES_MAX));
    const out = await store.putDeltas(big);
    assert.equal(out.filter((o) => o.status === "accepted").length, 100);
    const page = await store.listArrivals("c", 0, 1000);
    assert.deepEqual(page.deltas.map(({ arrival: _, ...d }) => d), big);
  });

  test("an unavailable store throws StoreUnavailableError and the retry stores everything once", async (fixture) => {
    if (fixture.faults === undefined) return;
    const { store, faults } = fixture;
    await store.putDeltas([storedDelta("c", A, 1)]);
    const batch = [storedDelta("c", A, 2), storedDelta("c", A, 3)];
    await faults.fail();
    await assert.rejects(() => store.putDeltas(batch), StoreUnavailableError);
    await assert.rejects(
      () => store.listArrivals("c", 0, 10),
      StoreUnavailableError,
    );
    await assert.rejects(() => store.ping(), StoreUnavailableError);
    await faults.heal();
    await store.ping();
    const retry = await store.putDeltas(batch);
    assert.ok(
      retry.every((o) => o.status === "accepted" || o.status === "duplicate"),
    );
    const page = await store.listArrivals("c", 0, 10);
    assert.deepEqual(page.deltas.map((d) => d.seq), [1, 2, 3]);
    assert.deepEqual(await store.getHead("c", A), {
      contiguous: 3,
      max: 3,
      count: 3,
    });
  });

  test("advanceCursor() never moves a cursor back and concurrent advances keep the max", async ({ store }) => {
    assert.equal(await store.getCursor("fanout:eu-2"), 0);
    assert.equal(await store.advanceCursor("fanout:eu-2", 5), 5);
    assert.equal(await store.advanceCursor("fanout:eu-2", 3), 5);
    assert.equal(await store.advanceCursor("fanout:eu-2", 5), 5);
    assert.equal(await store.getCursor("fanout:eu-2"), 5);
    assert.equal(await store.getCursor("fanout:eu-3"), 0);
    assert.equal(await store.advanceCursor("fanout:eu-3", 0), 0);
    const targets = fc.sample(
      fc.shuffledSubarray(Array.from({ length: 40 }, (_, i) => i + 1), {
        minLength: 40,
      }),
      { numRuns: 1, seed: 7 },
    )[0];
    const after = await Promise.all(targets.map((n) => store.advanceCursor("epoch:eu-1", n)));
    after.forEach((a, i) => assert.ok(a >= targets[i], `advance to ${targets[i]} answered ${a}`));
    assert.equal(await store.getCursor("epoch:eu-1"), 40);
    const top = Number.MAX_SAFE_INTEGER;
    assert.equal(await store.advanceCursor("epoch:eu-1", top), top);
    assert.equal(await store.getCursor("epoch:eu-1"), top);
    await assert.rejects(() => store.advanceCursor("x", -1), RangeError);
    await assert.rejects(() => store.advanceCursor("x", 1.5), RangeError);
    await assert.rejects(() => store.getCursor(""), TypeError);
  });

  const T0 = 1_700_000_000_000;

  test("takeTokens() grants the burst at once, then refills at the rate of the caller's clock", async ({ store }) => {
    const take = (cost: number, nowMs: number) => takeTokens(store, "rl:a", cost, 2, 5, nowMs);
    for (let left = 4; left >= 0; left--) {
      assert.deepEqual(await take(1, T0), { allowed: true, retryAfterMs: 0, remaining: left });
    }
    assert.deepEqual(await take(1, T0), { allowed: false, retryAfterMs: 500, remaining: 0 });
    assert.deepEqual(await take(1, T0 + 499), { allowed: false, retryAfterMs: 1, remaining: 0 });
    assert.deepEqual(await take(1, T0 + 500), { allowed: true, retryAfterMs: 0, remaining: 0 });
    assert.deepEqual(
      await take(3, T0 + 1_750),
      { allowed: false, retryAfterMs: 250, remaining: 2 },
      "2.5 tokens after 1.25 s at 2/s; a refusal takes nothing",
    );
    assert.deepEqual(await take(2, T0 + 1_750), { allowed: true, retryAfterMs: 0, remaining: 0 });
    assert.deepEqual(
      await take(5, T0 + 600_000),
      { allowed: true, retryAfterMs: 0, remaining: 0 },
      "a bucket never holds more than its burst",
    );
    assert.deepEqual(await take(1, T0 + 600_000), {
      allowed: false,
      retryAfterMs: 500,
      remaining: 0,
    });
  });

  test("takeTokens() mints nothing when the caller's clock goes back", async ({ store }) => {
    const take = (nowMs: number) => takeTokens(store, "rl:b", 1, 1, 2, nowMs);
    await take(T0 + 10_000);
    await take(T0 + 10_000);
    assert.equal((await take(T0)).allowed, false, "an earlier clock adds no tokens");
    assert.deepEqual(await take(T0 + 10_999), { allowed: false, retryAfterMs: 1, remaining: 0 });
    assert.equal((await take(T0 + 11_000)).allowed, true);
  });

  test("takeTokens() keeps buckets apart by name and a smaller burst caps what a bucket holds", async ({ store }) => {
    assert.equal((await takeTokens(store, "rl:x", 3, 1, 3, T0)).allowed, true);
    assert.equal((await takeTokens(store, "rl:x", 1, 1, 3, T0)).allowed, false);
    assert.deepEqual(await takeTokens(store, "rl:y", 1, 1, 3, T0), {
      allowed: true,
      retryAfterMs: 0,
      remaining: 2,
    });
    assert.deepEqual(await takeTokens(store, "rl:z", 1, 100, 1_000, T0), {
      allowed: true,
      retryAfterMs: 0,
      remaining: 999,
    });
    assert.deepEqual(
      await takeTokens(store, "rl:z", 1, 10, 100, T0),
      { allowed: true, retryAfterMs: 0, remaining: 99 },
      "a throttled caller's smaller burst caps the level",
    );
  });

  test("takeTokens() from many concurrent takers never grants more than the burst", async ({ store }) => {
    const takers = 25, burst = 10;
    const grants = await Promise.all(
      Array.from({ length: takers }, () => takeTokens(store, "rl:hot", 1, 0.001, burst, T0)),
    );
    assert.equal(grants.filter((g) => g.allowed).length, burst);
    assert.deepEqual(
      grants.filter((g) => g.allowed).map((g) => g.remaining).sort((a, b) => a - b),
      Array.from({ length: burst }, (_, i) => i),
      "each grant saw a different level",
    );
    for (const g of grants.filter((g) => !g.allowed)) {
      assert.deepEqual(g, { allowed: false, retryAfterMs: 1_000_000, remaining: 0 });
    }
    const batches = await Promise.all(
      Array.from({ length: 6 }, () =>
        store.takeTokensMany(
          Array.from(
            { length: 4 },
            () => ({ bucket: "rl:warm", cost: 1, ratePerSecond: 1, burst }),
          ),
          T0,
        )),
    );
    assert.equal(batches.flat().filter((g) => g.allowed).length, burst);
  });

  test("takeTokensMany() applies requests in order, each bucket on its own", async ({ store }) => {
    const req = (bucket: string, cost: number) => ({ bucket, cost, ratePerSecond: 1, burst: 2 });
    const grants = await store.takeTokensMany(
      [req("rl:m", 1), req("rl:n", 2), req("rl:m", 1), req("rl:m", 1), req("rl:n", 1)],
      T0,
    );
    assert.deepEqual(grants.map((g) => [g.allowed, g.remaining]), [
      [true, 1],
      [true, 0],
      [true, 0],
      [false, 0],
      [false, 0],
    ]);
    assert.deepEqual(await store.takeTokensMany([], T0), []);
    assert.deepEqual(await store.takeTokensMany([req("rl:m", 1)], T0 + 1_000), [
      { allowed: true, retryAfterMs: 0, remaining: 0 },
    ]);
  });

  test("takeTokens() with a negative cost gives tokens back, never above the burst", async ({ store }) => {
    await takeTokens(store, "rl:r", 3, 0.001, 4, T0);
    assert.deepEqual(await takeTokens(store, "rl:r", -2, 0.001, 4, T0), {
      allowed: true,
      retryAfterMs: 0,
      remaining: 3,
    });
    assert.deepEqual(await takeTokens(store, "rl:r", -4, 0.001, 4, T0), {
      allowed: true,
      retryAfterMs: 0,
      remaining: 4,
    });
    assert.deepEqual(await takeTokens(store, "rl:fresh", -1, 1, 4, T0), {
      allowed: true,
      retryAfterMs: 0,
      remaining: 4,
    });
  });

  test("takeTokens() refuses bad arguments as programmer errors", async ({ store }) => {
    await assert.rejects(() => takeTokens(store, "rl:bad", 3, 1, 2, T0), RangeError);
    await assert.rejects(() => takeTokens(store, "rl:bad", -3, 1, 2, T0), RangeError);
    await assert.rejects(() => takeTokens(store, "rl:bad", 0, 1, 2, T0), RangeError);
    await assert.rejects(() => takeTokens(store, "rl:bad", 1, 0, 2, T0), RangeError);
    await assert.rejects(() => takeTokens(store, "rl:bad", 1, 1, Infinity, T0), RangeError);
    await assert.rejects(() => takeTokens(store, "rl:bad", 1, 1, 2, -1), RangeError);
    await assert.rejects(() => takeTokens(store, "", 1, 1, 2, T0), TypeError);
  });

  test("takeTokens() on an unavailable store throws StoreUnavailableError", async (fixture) => {
    if (fixture.faults === undefined) return;
    await fixture.faults.fail();
    await assert.rejects(
      () => takeTokens(fixture.store, "rl:down", 1, 1, 2, T0),
      StoreUnavailableError,
    );
    await fixture.faults.heal();
    assert.equal((await takeTokens(fixture.store, "rl:down", 1, 1, 2, T0)).allowed, true);
  });

  test("acquireLease() gives epoch 1 first and a renewal keeps the epoch and extends expiry", async ({ store }) => {
    assert.equal(await store.getLease("leader"), null);
    const first = await store.acquireLease("leader", "i-1", 1_000, T0);
    assert.deepEqual(first, { holder: "i-1", epoch: 1, expiresAtMs: T0 + 1_000 });
    assert.deepEqual(await store.getLease("leader"), first);
    assert.deepEqual(
      await store.acquireLease("leader", "i-1", 1_000, T0 + 500),
      { holder: "i-1", epoch: 1, expiresAtMs: T0 + 1_500 },
    );
    assert.deepEqual(
      await store.acquireLease("leader", "i-1", 100, T0 + 600),
      { holder: "i-1", epoch: 1, expiresAtMs: T0 + 1_500 },
      "a renewal never shortens the lease",
    );
    assert.equal(await store.getLease("other"), null, "leases are independent by name");
    await assert.rejects(() => store.acquireLease("leader", "i-1", 0, T0), RangeError);
    await assert.rejects(() => store.acquireLease("leader", "", 1_000, T0), TypeError);
  });

  test("acquireLease() refuses another holder before expiry and gives it epoch + 1 after", async ({ store }) => {
    const held = await store.acquireLease("leader", "i-1", 1_000, T0);
    assert.deepEqual(await store.acquireLease("leader", "i-2", 1_000, T0 + 999), held);
    assert.deepEqual(await store.getLease("leader"), held, "a refusal changes nothing");
    const taken = await store.acquireLease("leader", "i-2", 1_000, T0 + 1_000);
    assert.deepEqual(taken, { holder: "i-2", epoch: 2, expiresAtMs: T0 + 2_000 });
    assert.deepEqual(await store.acquireLease("leader", "i-1", 1_000, T0 + 1_500), taken);
    assert.deepEqual(
      await store.acquireLease("leader", "i-2", 1_000, T0 + 5_000),
      { holder: "i-2", epoch: 3, expiresAtMs: T0 + 6_000 },
      "taking one's own lease after expiry is a new term",
    );
  });

  test("claimNonce() grants a nonce once, to one of many concurrent claimers", async ({ store }) => {
    assert.equal(await store.claimNonce("eu-1:aaaa", 60_000, 1_000), true);
    assert.equal(await store.claimNonce("eu-1:aaaa", 60_000, 1_001), false);
    assert.equal(
      await store.claimNonce("eu-1:bbbb", 60_000, 1_001),
      true,
      "nonces are independent",
    );
    const claims = await Promise.all(
      Array.from({ length: 8 }, () => store.claimNonce("eu-2:cccc", 60_000, 1_000)),
    );
    assert.equal(claims.filter(Boolean).length, 1);
  });

  test("releaseLease() lets another holder take the lease at once with epoch + 1", async ({ store }) => {
    await store.releaseLease("leader", "i-1"); // never taken: nothing to do
    assert.equal(await store.getLease("leader"), null);
    const held = await store.acquireLease("leader", "i-1", 60_000, T0);
    await store.releaseLease("leader", "i-2");
    assert.deepEqual(await store.getLease("leader"), held, "only the holder can release");
    await store.releaseLease("leader", "i-1");
    const released = await store.getLease("leader");
    assert.ok(released !== null && released.expiresAtMs <= T0 && released.epoch === 1);
    assert.deepEqual(
      await store.acquireLease("leader", "i-2", 60_000, T0 + 1),
      { holder: "i-2", epoch: 2, expiresAtMs: T0 + 60_001 },
    );
  });

  test("acquireLease() by many holders at once grants it to exactly one", async ({ store }) => {
    const holders = Array.from({ length: 8 }, (_, i) => `i-${i}`);
    for (const [round, nowMs] of [T0, T0 + 1_000, T0 + 2_000].entries()) {
      const leases = await Promise.all(
        holders.map((h) => store.acquireLease("leader", h, 1_000, nowMs)),
      );
      const winners = holders.filter((h, i) => leases[i].holder === h);
      assert.equal(winners.length, 1, `round ${round}: ${winners.join(", ")}`);
      for (const lease of leases) {
        assert.deepEqual(lease, {
          holder: winners[0],
          epoch: round + 1,
          expiresAtMs: nowMs + 1_000,
        });
      }
    }
  });

  test("acquireLease() and releaseLease() follow the lease model over random steps", async ({ store }) => {
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("acquire" as const),
        holder: fc.integer({ min: 0, max: 2 }),
        ttlMs: fc.integer({ min: 1, max: 50 }),
      }),
      fc.record({ kind: fc.constant("release" as const), holder: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 60 }) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 25 }), async (steps) => {
        const name = `lease-${run++}`;
        let model = null as Lease | null;
        let nowMs = T0;
        const terms: Lease[] = []; // each holder's term, in order
        for (const s of steps) {
          if (s.kind === "wait") {
            nowMs += s.ms;
          } else if (s.kind === "release") {
            await store.releaseLease(name, `h${s.holder}`);
            if (model !== null && model.holder === `h${s.holder}`) {
              model = { ...model, expiresAtMs: 0 };
            }
          } else {
            const holder = `h${s.holder}`;
            const got = await store.acquireLease(name, holder, s.ttlMs, nowMs);
            model = modelAcquire(model, holder, s.ttlMs, nowMs);
            assert.deepEqual(got, model);
            if (got.holder === holder && terms.at(-1)?.epoch !== got.epoch) terms.push(got);
          }
          const stored = await store.getLease(name);
          assert.equal(stored?.holder, model?.holder);
          assert.equal(stored?.epoch, model?.epoch);
          if (model !== null && model.expiresAtMs > nowMs) {
            assert.equal(stored?.expiresAtMs, model.expiresAtMs);
          } else if (model !== null) {
            assert.ok(stored!.expiresAtMs <= nowMs, "a lease the model holds free is free");
          }
        }
        terms.forEach((t, i) => assert.equal(t.epoch, i + 1, "epochs rise by one per term"));
      }),
      { numRuns: 40 },
    );
  });
}

/**
 * The lease rule, written out independently of the stores: a live lease (now < expiry) is kept
 * by its holder, with the same epoch and an expiry that never shrinks; a free one goes to the
 * asker with epoch + 1.
 */
function modelAcquire(
  current: Lease | null,
  holder: string,
  ttlMs: number,
  nowMs: number,
): Lease {
  const live = current !== null && nowMs < current.expiresAtMs;
  if (!live) return { holder, epoch: (current?.epoch ?? 0) + 1, expiresAtMs: nowMs + ttlMs };
  if (current.holder !== holder) return current;
  return {
    holder,
    epoch: current.epoch,
    expiresAtMs: Math.max(current.expiresAtMs, nowMs + ttlMs),
  };
}

export { assertLogMatchesArrivals, readLog } from "./_log_cases.ts";
