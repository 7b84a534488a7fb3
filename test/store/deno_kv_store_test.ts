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
