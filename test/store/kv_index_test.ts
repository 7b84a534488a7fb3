/** The store index on Deno KV beyond the conformance suite: layout, atomic limits, retries. */
import assert from "node:assert/strict";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { INDEX_WRITE_KEYS_MAX } from "../../src/store/index_limits.ts";
import { StoreUnavailableError } from "../../src/store/region_store.ts";

/** `kv`, running `before` ahead of each atomic commit (a rival writing in between). */
function beforeCommit(kv: Deno.Kv, before: () => Promise<void>): Deno.Kv {
  return new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop !== "atomic") return typeof value === "function" ? value.bind(target) : value;
      return () => {
        const op = target.atomic();
        const commit = op.commit.bind(op);
        op.commit = async () => {
          await before();
          return await commit();
        };
        return op;
      };
    },
  });
}

Deno.test("DenoKvStore keeps index entries at [...prefix, 'x', ...key] as strings", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new DenoKvStore(kv, { prefix: ["r1"], ownsKv: false });
  try {
    assert.ok(await store.writeIndex({ set: [{ key: ["agents", "中"], value: "v" }] }));
    assert.equal((await kv.get(["r1", "x", "agents", "中"])).value, "v");
    // A key sharing the prefix but outside the index is never listed.
    await kv.set(["r1", "y", "agents"], "neither");
    assert.deepEqual(await store.listIndex([], { limit: 10 }), {
      entries: [{ key: ["agents", "中"], value: "v" }],
      more: false,
    });
  } finally {
    await store.close();
    kv.close();
  }
});

Deno.test("DenoKvStore.writeIndex() decides again when a rival commits between its read and its commit", async () => {
  const kv = await Deno.openKv(":memory:");
  let rival: string | null = null;
  const store = new DenoKvStore(
    beforeCommit(kv, async () => {
      if (rival !== null) await kv.set(["x", "k"], rival);
      rival = null;
    }),
    { ownsKv: false },
  );
  try {
    assert.ok(await store.writeIndex({ set: [{ key: ["k"], value: "1" }] }));
    // The rival rewrites the same value: the commit fails, the fresh read still holds, it applies.
    rival = "1";
    const same = { expect: [{ key: ["k"], value: "1" }], set: [{ key: ["k"], value: "2" }] };
    assert.equal(await store.writeIndex(same), true);
    assert.deepEqual(await store.readIndex([["k"]]), ["2"]);
    // The rival changes it: the fresh read no longer holds, so nothing is written.
    rival = "rival";
    const lost = {
      expect: [{ key: ["k"], value: "2" }],
      set: [{ key: ["k"], value: "3" }, { key: ["other"], value: "x" }],
    };
    assert.equal(await store.writeIndex(lost), false);
    assert.deepEqual(await store.readIndex([["k"], ["other"]]), ["rival", null]);
  } finally {
    await store.close();
    kv.close();
  }
});

Deno.test("DenoKvStore.writeIndex() gives up as StoreUnavailableError when every commit loses", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new DenoKvStore(beforeCommit(kv, () => kv.set(["x", "k"], "same").then(() => {})), {
    ownsKv: false,
  });
  try {
    await kv.set(["x", "k"], "same");
    const write = {
      expect: [{ key: ["k"], value: "same" }],
      set: [{ key: ["k"], value: "next" }],
    };
    await assert.rejects(() => store.writeIndex(write), StoreUnavailableError);
    assert.equal((await kv.get(["x", "k"])).value, "same");
  } finally {
    await store.close();
    kv.close();
  }
});

Deno.test("DenoKvStore.writeIndex() refuses as RangeError a write its store prefix makes too big for one atomic operation", async () => {
  const kv = await Deno.openKv(":memory:");
  const wide = new DenoKvStore(kv, { prefix: ["p".repeat(600)], ownsKv: false });
  const huge = new DenoKvStore(kv, { prefix: ["p".repeat(1_600)], ownsKv: false });
  const set = (n: number) =>
    Array.from(
      { length: n },
      (_, i) => ({ key: [`k${i}`, "x".repeat(250), "y".repeat(250)], value: "v" }),
    );
  try {
    assert.ok(await wide.writeIndex({ set: set(8) }));
    await assert.rejects(() => wide.writeIndex({ set: set(INDEX_WRITE_KEYS_MAX) }), RangeError);
    await assert.rejects(() => huge.writeIndex({ set: set(1) }), RangeError);
    assert.equal((await wide.listIndex([], { limit: 1_000 })).entries.length, 8);
  } finally {
    await wide.close();
    await huge.close();
    kv.close();
  }
});
