import assert from "node:assert/strict";
import {
  chunkForAtomic,
  DenoKvStore,
  KV_ATOMIC_CHECKS_MAX,
} from "../../src/store/deno_kv_store.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";
import { failingKv } from "../support/failing_kv.ts";
import { runStoreConformance } from "./conformance.ts";

runStoreConformance("DenoKvStore", async () => {
  const real = await Deno.openKv(":memory:");
  const faulty = failingKv(real);
  const store = new DenoKvStore(faulty.kv);
  return {
    store,
    faults: {
      fail: () => void (faulty.failing = true),
      heal: () => void (faulty.failing = false),
    },
    cleanup: () => store.close(),
  };
});

Deno.test("chunkForAtomic() keeps each chunk within Deno KV's check limit", () => {
  const batch = Array.from(
    { length: 250 },
    (_, i) => storedDelta("c", fakeAuthor(i), 1),
  );
  const chunks = chunkForAtomic(batch);
  assert.ok(chunks.length >= 3);
  for (const chunk of chunks) {
    assert.ok(chunk.length + 1 <= KV_ATOMIC_CHECKS_MAX);
  }
  assert.deepEqual(chunks.flat(), batch);
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
      { status: "seq_conflict", existingId: seqs(9, 9)[0].id },
    ]);
    assert.deepEqual(await b.getHead("c", author), { contiguous: 11, max: 11, count: 11 });
    // Both push the same fresh deltas at once: each is stored exactly once, arrivals gapless.
    const both = seqs(12, 61);
    const [ra, rb] = await Promise.all([a.putDeltas(both), b.putDeltas(both)]);
    for (let i = 0; i < both.length; i++) {
      assert.deepEqual([ra[i].status, rb[i].status].sort(), ["accepted", "duplicate"]);
    }
    const page = await a.listArrivals("c", 0, 1000);
    assert.deepEqual(
      page.deltas.map((d) => d.arrival),
      Array.from({ length: 61 }, (_, i) => i + 1),
    );
    assert.deepEqual(page.deltas.map((d) => d.seq), Array.from({ length: 61 }, (_, i) => i + 1));
    assert.deepEqual(await a.getHead("c", author), { contiguous: 61, max: 61, count: 61 });
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});
