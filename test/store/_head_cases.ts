/**
 * Conformance cases for author heads (issue 16): however the seqs of an author arrive — gaps
 * filled by one write or several, out of order, with duplicates, across a restart — the stored
 * head is the highest contiguous seq of what is stored, the same number a fold's `heads` shows.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { AuthorHeads } from "../../src/crdt/author_heads.ts";
import type { AuthorHead, RegionStore } from "../../src/store/region_store.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";
import type { StoreFixture } from "./conformance.ts";

type Case = (title: string, fn: (f: StoreFixture) => Promise<void>) => void;

const A = fakeAuthor(1);

/** Pushes `batches` of A's seqs in channel "c", one `putDeltas` call per batch. */
async function push(store: RegionStore, batches: readonly (readonly number[])[]) {
  for (const seqs of batches) await store.putDeltas(seqs.map((s) => storedDelta("c", A, s)));
}

/** The head `AuthorHeads` (the fold's rule) gives for the distinct seqs of `batches`. */
function expectedHead(batches: readonly (readonly number[])[]): AuthorHead {
  const seqs = [...new Set(batches.flat())];
  const heads = new AuthorHeads();
  for (const seq of seqs) heads.add(A, seq);
  const contiguous = heads.heads().find(([a]) => a === A)?.[1] ?? 0;
  return { contiguous, max: Math.max(...seqs), count: seqs.length };
}

export function headCases(test: Case): void {
  test("getHead() advances over stored seqs when one write fills a gap with several", async ({ store }) => {
    await push(store, [[1, 2, 5, 6], [3, 4]]);
    assert.deepEqual(await store.getHead("c", A), { contiguous: 6, max: 6, count: 6 });
  });

  test("getHead() advances when several writes fill a gap, and when one fills it out of order", async ({ store }) => {
    await push(store, [[1, 2, 5, 6], [3], [4]]);
    assert.deepEqual(await store.getHead("c", A), { contiguous: 6, max: 6, count: 6 });
    await push(store, [[9, 10], [8, 7]]);
    assert.deepEqual(await store.getHead("c", A), { contiguous: 10, max: 10, count: 10 });
  });

  test("getHead() counts duplicates in the filling write once", async ({ store }) => {
    await push(store, [[1, 4, 6], [2, 3, 3, 2, 4, 5, 5]]);
    assert.deepEqual(await store.getHead("c", A), { contiguous: 6, max: 6, count: 6 });
  });

  test("getHead() advances over seqs stored before a restart when a later write fills the gap", async (fixture) => {
    await push(fixture.store, [[1, 2, 5, 6, 7]]);
    const store = fixture.reopen === undefined ? fixture.store : await fixture.reopen();
    await push(store, [[4, 3]]);
    assert.deepEqual(await store.getHead("c", A), { contiguous: 7, max: 7, count: 7 });
    const again = fixture.reopen === undefined ? store : await fixture.reopen();
    assert.deepEqual(await again.getHead("c", A), { contiguous: 7, max: 7, count: 7 });
  });

  test("getHead() equals the fold's contiguous head for any sequence of batches", async (fixture) => {
    const batches = fc.array(fc.array(fc.integer({ min: 1, max: 14 }), { maxLength: 6 }), {
      minLength: 1,
      maxLength: 6,
    });
    let round = 0;
    await fc.assert(
      fc.asyncProperty(batches, async (bs) => {
        const channel = `p${round++}`;
        for (const seqs of bs) {
          await fixture.store.putDeltas(seqs.map((s) => storedDelta(channel, A, s)));
        }
        const seqs = bs.flat();
        const head = await fixture.store.getHead(channel, A);
        if (seqs.length === 0) return assert.equal(head, null);
        const want = expectedHead(bs);
        assert.deepEqual(head, want, `batches ${JSON.stringify(bs)}`);
        const page = await fixture.store.listArrivals(channel, 0, 100);
        assert.equal(page.deltas.length, want.count);
      }),
      { numRuns: 40 },
    );
  });
}
