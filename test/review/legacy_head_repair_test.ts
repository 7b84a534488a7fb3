/**
 * Review of issue 16's "Existing stores with a wrong head are repaired on read or on the next
 * write (a region that ran the old code must not keep the wrong figure for ever)". A head the old
 * code left short (push 1, 2, 5, 6, then 3 and 4 in one request: contiguous 4, max 6, count 6) is
 * planted in each durable store as the old code wrote it. The Deno KV store repairs it on read;
 * the Upstash store returns it as stored, and keeps it when the author's next write in the
 * channel is the second half of an equivocation (the script skips the head loop then) — so an
 * author who writes nothing more there (every quarantined one) keeps the wrong figure for ever,
 * and a KV region and an Upstash region answer the author endpoint differently for one set.
 */
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";
import { redisAvailable } from "../support/redis_server.ts";
import { startUpstashEnv } from "../support/upstash_rest_server.ts";

const A = fakeAuthor(7);
const RIGHT = { contiguous: 6, max: 6, count: 6 };

async function storeSix(store: RegionStore) {
  await store.putDeltas([1, 2, 3, 4, 5, 6].map((s) => storedDelta("c", A, s)));
  assert.deepEqual(await store.getHead("c", A), RIGHT);
}

Deno.test("review: Deno KV repairs a head the old code left short, on read", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new DenoKvStore(kv, { ownsKv: false });
  try {
    await storeSix(store);
    await kv.set(["h", "c", A], { contiguous: 4, max: 6, count: 6 });
    assert.deepEqual(await store.getHead("c", A), RIGHT);
    const again = new DenoKvStore(kv, { ownsKv: false });
    await again.putDeltas([storedDelta("c", A, 3, "second half")]);
    assert.deepEqual(await again.getHead("c", A), { ...RIGHT, count: 7 });
    await again.close();
  } finally {
    await store.close();
    kv.close();
  }
});

Deno.test({
  name:
    "review: Upstash repairs a head the old code left short, on read or on the author's next write",
  // Was a defect (issue 16 on Upstash): UpstashStore.getHead returns the stored head unchecked, and
  // PUT_SCRIPT runs the head loop only for a delta that takes its slot, not for the second half
  // of an equivocation. Fixed; this guards it.
  async fn() {
    if (!redisAvailable) return;
    const env = await startUpstashEnv();
    const store = new UpstashStore({ url: env.rest.url, token: env.rest.token });
    try {
      await storeSix(store);
      const redis = new Redis({ url: env.rest.url, token: env.rest.token });
      await redis.hset("mesh:{c}:h", { [A]: "4 6 6" }); // as the code before 45ac52c left it
      // The author's only later write in the channel is the second half of an equivocation.
      const [out] = await store.putDeltas([storedDelta("c", A, 3, "second half")]);
      assert.equal(out.status, "equivocation");
      assert.deepEqual(await store.getHead("c", A), { ...RIGHT, count: 7 });
    } finally {
      await store.close();
      await env.stop();
    }
  },
});
