/**
 * One conformance suite for every RegionStore implementation. Each implementation's test file
 * calls `runStoreConformance` with a factory that opens a fresh, empty store.
 */
import assert from "node:assert/strict";
import { DELTA_BODY_BYTES_MAX } from "../../src/protocol/limits.ts";
import {
  type RegionStore,
  type StoredDelta,
  StoreUnavailableError,
} from "../../src/store/region_store.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";

/** A fresh store and, when the implementation can simulate outages, a switch for them. */
export interface StoreFixture {
  readonly store: RegionStore;
  /** Makes the store fail (as unreachable) until `heal()`; absent when not supported. */
  readonly faults?: {
    fail(): void | Promise<void>;
    heal(): void | Promise<void>;
  };
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

  test("putDeltas() keeps the first of two bodies with one seq and reports seq_conflict", async ({ store }) => {
    const first = storedDelta("c", A, 1, "first");
    const second = storedDelta("c", A, 1, "second");
    assert.deepEqual(await store.putDeltas([first, second]), [
      { status: "accepted", arrival: 1 },
      { status: "seq_conflict", existingId: first.id },
    ]);
    assert.deepEqual(await store.putDeltas([second]), [
      { status: "seq_conflict", existingId: first.id },
    ]);
    assert.deepEqual(await store.getDelta("c", first.id), first);
    assert.equal(await store.getDelta("c", second.id), null);
    assert.equal((await store.listArrivals("c", 0, 10)).deltas.length, 1);
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

  test("putDeltas() of rival bodies for one seq at once accepts exactly one", async ({ store }) => {
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
        assert.deepEqual(r[0], {
          status: "seq_conflict",
          existingId: winner.id,
        });
      }
    }
    assert.deepEqual(await store.getDelta("c", winner.id), winner);
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
}
