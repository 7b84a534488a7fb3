/** The store index on Upstash beyond the conformance suite: layout, round trips, replays, pages. */
import assert from "node:assert/strict";
import { UpstashStore, type UpstashStoreOptions } from "../../src/store/upstash_store.ts";
import { replyText, RespConnection } from "../support/resp_client.ts";
import { upstashTest, type UpstashTestEnv } from "../support/upstash_rest_server.ts";
import { listAll } from "./_index_cases.ts";

function storeOf(env: UpstashTestEnv, options: Omit<UpstashStoreOptions, "url" | "token"> = {}) {
  return new UpstashStore({ url: env.rest.url, token: env.rest.token, ...options });
}

async function redisKeys(env: UpstashTestEnv): Promise<string[]> {
  const conn = await RespConnection.connect(env.redis.port);
  try {
    const reply = await conn.command("KEYS", "*") as Uint8Array[];
    return reply.map((k) => replyText(k)!).sort();
  } finally {
    conn.close();
  }
}

/** Requests the REST server received while `fn` ran. */
async function requestsDuring(env: UpstashTestEnv, fn: () => Promise<unknown>): Promise<number> {
  const before = env.rest.stats.requests;
  await fn();
  return env.rest.stats.requests - before;
}

upstashTest(
  "UpstashStore keeps the index under the one hash tag {~index}, each call one round trip",
  async (env) => {
    const store = storeOf(env);
    const write = {
      set: [{ key: ["agents", "a"], value: "1" }, { key: ["caps", "b"], value: "2" }],
    };
    assert.equal(await requestsDuring(env, () => store.writeIndex(write)), 2, "cold script");
    const again = { expect: [{ key: ["agents", "a"], value: "1" }], delete: [["caps", "b"]] };
    assert.equal(await requestsDuring(env, () => store.writeIndex(again)), 1);
    await store.readIndex([["agents", "a"]]);
    assert.equal(await requestsDuring(env, () => store.readIndex([["agents", "a"]])), 1);
    await store.listIndex([], { limit: 10 });
    assert.equal(await requestsDuring(env, () => store.listIndex(["agents"], { limit: 10 })), 1);
    const keys = await redisKeys(env);
    assert.ok(keys.every((k) => k.startsWith("mesh:{~index}:")), keys.join(", "));
    assert.deepEqual(keys.filter((k) => !k.includes(":r:")), [
      "mesh:{~index}:keys",
      "mesh:{~index}:values",
    ]);
  },
);

upstashTest(
  "UpstashStore.writeIndex() that the client retried after a network error answers as the first run",
  async (env) => {
    const store = storeOf(env);
    await store.writeIndex({ set: [{ key: ["warm"], value: "up" }] }); // loads the script
    const original = globalThis.fetch;
    let dropped = 0;
    globalThis.fetch = async (input, init) => {
      const res = await original(input, init);
      if (dropped === 0 && String(input).endsWith("/pipeline")) {
        dropped++;
        await res.body?.cancel();
        throw new TypeError("connection reset by peer (simulated after redis ran the script)");
      }
      return res;
    };
    try {
      // Run twice without the guard, the second run would find its own write and answer false.
      const claim = { expect: [{ key: ["k"], value: null }], set: [{ key: ["k"], value: "mine" }] };
      const sent = await requestsDuring(env, async () => {
        assert.equal(await store.writeIndex(claim), true);
      });
      assert.equal(dropped, 1);
      assert.equal(sent, 2, "the client sent the same request twice");
    } finally {
      globalThis.fetch = original;
    }
    assert.deepEqual(await store.readIndex([["k"]]), ["mine"]);
  },
);

upstashTest(
  "UpstashStore.listIndex() ends a page at listPageBytesMax, with more, and pages through all",
  async (env) => {
    const store = storeOf(env, { listPageBytesMax: 1_000 });
    const set = Array.from(
      { length: 10 },
      (_, i) => ({ key: ["big", `${i}`], value: "é".repeat(150) }),
    );
    assert.ok(await store.writeIndex({ set }));
    const first = await store.listIndex(["big"], { limit: 100 });
    assert.equal(first.entries.length, 3, "3 entries of 305 bytes fit 1,000 bytes");
    assert.equal(first.more, true);
    assert.deepEqual(await listAll(store, ["big"], 100), set);
    assert.deepEqual(await listAll(store, ["big"], 100, true), [...set].reverse());
    // One entry past the budget still comes, alone.
    const tight = storeOf(env, { listPageBytesMax: 10 });
    const one = await tight.listIndex(["big"], { limit: 5 });
    assert.deepEqual(one, { entries: set.slice(0, 1), more: true });
  },
);
