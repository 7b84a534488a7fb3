import assert from "node:assert/strict";
import { takeTokens } from "../../src/store/region_store.ts";
import { Redis } from "@upstash/redis";
import { MemoryStore } from "../../src/store/memory_store.ts";
import {
  type RegionStore,
  type StoredDelta,
  StoreUnavailableError,
} from "../../src/store/region_store.ts";
import {
  planRequests,
  REPLAY_GUARD_TTL_SECONDS,
  UpstashStore,
  type UpstashStoreOptions,
} from "../../src/store/upstash_store.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";
import { assertLogMatchesArrivals, readLog } from "./conformance.ts";
import { replyText, RespConnection } from "../support/resp_client.ts";
import { upstashTest, type UpstashTestEnv } from "../support/upstash_rest_server.ts";

const A = fakeAuthor(1), B = fakeAuthor(2);

function storeOf(env: UpstashTestEnv, options: Omit<UpstashStoreOptions, "url" | "token"> = {}) {
  return new UpstashStore({
    url: env.rest.url,
    token: env.rest.token,
    requestTimeoutMs: 2_000,
    ...options,
  });
}

/** Runs `fn` with a RESP connection straight to the redis behind the REST server. */
async function withResp<T>(env: UpstashTestEnv, fn: (c: RespConnection) => Promise<T>): Promise<T> {
  const conn = await RespConnection.connect(env.redis.port);
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

async function keys(env: UpstashTestEnv): Promise<string[]> {
  const reply = await withResp(env, (c) => c.command("KEYS", "*")) as Uint8Array[];
  return reply.map((k) => replyText(k)!).sort();
}

/** Requests the REST server received while `fn` ran. */
async function requestsDuring(env: UpstashTestEnv, fn: () => Promise<unknown>): Promise<number> {
  const before = env.rest.stats.requests;
  await fn();
  return env.rest.stats.requests - before;
}

function padded(channel: string, author: string, seq: number, bytes: number, salt = "") {
  return storedDelta(channel, author, seq, salt + "x".repeat(bytes));
}

upstashTest(
  "UpstashStore.putDeltas() of 100 deltas costs one round trip (two on a cold script cache)",
  async (env) => {
    const store = storeOf(env);
    const batch = (from: number) =>
      Array.from({ length: 100 }, (_, i) => storedDelta("c", fakeAuthor(i % 10), from + (i >> 4)));
    const cold = await requestsDuring(env, () => store.putDeltas(batch(1)));
    assert.equal(cold, 2, "EVALSHA answers NOSCRIPT once, then EVAL loads the script");
    const warm = await requestsDuring(env, () => store.putDeltas(batch(100)));
    assert.equal(warm, 1);
    const channels = Array.from(
      { length: 100 },
      (_, i) => storedDelta(`ch${i % 5}`, A, 1 + Math.floor(i / 5)),
    );
    assert.equal(await requestsDuring(env, () => store.putDeltas(channels)), 1, "5 channels");
    assert.equal(await requestsDuring(env, () => store.putDeltas(channels)), 1, "all duplicates");
    assert.equal(
      await requestsDuring(env, () => store.listArrivals("c", 0, 1_000)),
      2,
      "cold read",
    );
    assert.equal(await requestsDuring(env, () => store.listArrivals("c", 0, 1_000)), 1);
  },
);

upstashTest(
  "UpstashStore log, cursor and lease calls cost one round trip each (two on a cold script cache)",
  async (env) => {
    const store = storeOf(env);
    await store.putDeltas([storedDelta("c", A, 1), storedDelta("d", A, 1)]);
    const shard = (await store.logHeads()).findIndex((head) => head > 0);
    const calls: [string, () => Promise<unknown>, number][] = [
      ["listLog", () => store.listLog(shard, 0, 100), 2],
      ["logHeads", () => store.logHeads(), 1],
      ["logHead", () => store.logHead(), 1],
      ["getCursor", () => store.getCursor("fanout:x"), 1],
      ["getCursors", () => store.getCursors(["fanout:x", "fanout:x:2"]), 1],
      ["advanceCursor", () => store.advanceCursor("fanout:x", 2), 2],
      ["acquireLease", () => store.acquireLease("leader", "i-1", 1_000, 0), 2],
      ["getLease", () => store.getLease("leader"), 1],
      ["releaseLease", () => store.releaseLease("leader", "i-1"), 2],
    ];
    for (const [name, call, cold] of calls) {
      assert.equal(await requestsDuring(env, call), cold, `${name}, cold`);
      assert.equal(await requestsDuring(env, call), 1, `${name}, warm`);
    }
    assert.equal((await store.listLog(shard, 0, 100)).entries.length, 2);
  },
);

upstashTest(
  "UpstashStore.putDeltas() over several requests that fails part-way logs each landed delta once",
  async (env) => {
    const store = storeOf(env, { putRequestBytesMax: 100_000 });
    const batch = Array.from({ length: 24 }, (_, i) => padded(`c${i % 2}`, A, i + 1, 15_000));
    assert.ok(planRequests(batch, 100_000).length >= 3);
    await store.putDeltas([storedDelta("c0", B, 1)]); // loads the script
    env.rest.faults.set({ mode: "http500", count: 1, afterApply: true });
    await assert.rejects(() => store.putDeltas(batch, "zone"), StoreUnavailableError);
    env.rest.faults.reset();
    const landed = await assertLogMatchesArrivals(store, ["c0", "c1"]);
    assert.ok(landed > 1 && landed < 25, `${landed} logged after the first request`);
    const retry = await store.putDeltas(batch, "zone");
    assert.equal(retry.filter((o) => o.status === "accepted").length, 25 - landed);
    assert.equal(await assertLogMatchesArrivals(store, ["c0", "c1"]), 25);
    assert.equal(new Set((await readLog(store)).map((e) => e.id)).size, 25);
  },
);

upstashTest("UpstashStore keeps a lease holder with spaces and symbols exact", async (env) => {
  const store = storeOf(env);
  const holder = "eu-1 instance #2 ✓ {x}";
  const t0 = Number.MAX_SAFE_INTEGER - 10_000;
  const lease = await store.acquireLease("leader", holder, 1_000, t0);
  assert.deepEqual(lease, { holder, epoch: 1, expiresAtMs: t0 + 1_000 });
  assert.deepEqual(await store.getLease("leader"), lease);
  assert.deepEqual(await store.acquireLease("leader", "other", 1_000, t0 + 1), lease);
  await store.releaseLease("leader", holder);
  assert.deepEqual(
    await store.acquireLease("leader", "other", 1_000, t0 + 2),
    { holder: "other", epoch: 2, expiresAtMs: t0 + 1_002 },
  );
});

upstashTest(
  "UpstashStore keeps every key under the prefix, a channel's under its hash tag and the log's under {~region}",
  async (env) => {
    const store = storeOf(env);
    await store.putDeltas([storedDelta("chan.1", A, 1), storedDelta("chan.1", B, 2)]);
    const all = await keys(env);
    const guards = all.filter((k) => k.startsWith("mesh:{chan.1}:r:"));
    assert.equal(guards.length, 1);
    const shard = (await store.logHeads()).findIndex((head) => head > 0);
    const log = `mesh:{~region}:log:${shard}`;
    assert.deepEqual(
      all.filter((k) => !guards.includes(k)),
      [
        "mesh:{chan.1}:a",
        "mesh:{chan.1}:d",
        "mesh:{chan.1}:h",
        `mesh:{chan.1}:s:${A}`,
        `mesh:{chan.1}:s:${B}`,
        log,
        `${log}:n`,
      ].sort(),
    );
    await store.advanceCursor("fanout:x", 1);
    await store.acquireLease("leader", "i-1", 1_000, 0);
    assert.deepEqual(
      (await keys(env)).filter((k) => k.startsWith("mesh:{~region}:")),
      [
        "mesh:{~region}:cursors",
        "mesh:{~region}:leases",
        log,
        `${log}:n`,
      ].sort(),
    );
    const ttl = await withResp(env, (c) => c.command("TTL", guards[0])) as number;
    assert.ok(ttl > 0 && ttl <= REPLAY_GUARD_TTL_SECONDS, `TTL ${ttl}`);
    const other = storeOf(env, { prefix: "r2:" });
    assert.equal(await other.getDelta("chan.1", storedDelta("chan.1", A, 1).id), null);
    assert.deepEqual(await other.putDeltas([storedDelta("chan.1", A, 1)]), [
      { status: "accepted", arrival: 1 },
    ]);
    assert.ok((await keys(env)).includes("r2:{chan.1}:d"));
  },
);

upstashTest(
  "UpstashStore.putDeltas() throws StoreUnavailableError on HTTP 500 and writes nothing",
  async (env) => {
    const store = storeOf(env);
    await store.ping();
    env.rest.faults.set({ mode: "http500" });
    const batch = [storedDelta("c", A, 1), storedDelta("c", A, 2)];
    await assert.rejects(() => store.putDeltas(batch), (e: Error) => {
      assert.ok(e instanceof StoreUnavailableError);
      assert.match(e.message, /injected fault/);
      assert.ok(e.message.length < 400, "the client's echo of every body is cut");
      return true;
    });
    await assert.rejects(() => store.getDelta("c", batch[0].id), StoreUnavailableError);
    await assert.rejects(() => store.getHead("c", A), StoreUnavailableError);
    await assert.rejects(() => store.listArrivals("c", 0, 10), StoreUnavailableError);
    await assert.rejects(() => store.ping(), StoreUnavailableError);
    env.rest.faults.reset();
    assert.deepEqual(await keys(env), []);
    assert.deepEqual(await store.putDeltas(batch), [
      { status: "accepted", arrival: 1 },
      { status: "accepted", arrival: 2 },
    ]);
  },
);

upstashTest(
  "UpstashStore.putDeltas() that lost its answer stores once and a retry says duplicate",
  async (env) => {
    const store = storeOf(env);
    await store.putDeltas([storedDelta("warm", A, 1)]); // loads the script
    const batch = [storedDelta("c", A, 2), storedDelta("c", A, 1), storedDelta("d", B, 1)];
    for (const mode of ["http500", "close"] as const) {
      env.rest.faults.set({ mode, count: 1, afterApply: true });
      await assert.rejects(() => store.putDeltas(batch), StoreUnavailableError);
      env.rest.faults.reset();
      assert.deepEqual(await store.putDeltas(batch), [
        { status: "duplicate" },
        { status: "duplicate" },
        { status: "duplicate" },
      ]);
    }
    assert.deepEqual(await store.getHead("c", A), { contiguous: 2, max: 2, count: 2 });
    assert.deepEqual((await store.listArrivals("c", 0, 10)).deltas.map((d) => d.seq), [2, 1]);
  },
);

upstashTest(
  "UpstashStore throws StoreUnavailableError when a request hangs past requestTimeoutMs",
  async (env) => {
    const store = storeOf(env, { requestTimeoutMs: 200 });
    env.rest.faults.set({ mode: "hang" });
    const started = Date.now();
    await assert.rejects(() => store.putDeltas([storedDelta("c", A, 1)]), (e: Error) => {
      assert.ok(e instanceof StoreUnavailableError);
      assert.equal((e.cause as Error).name, "TimeoutError");
      return true;
    });
    await assert.rejects(() => store.ping(), StoreUnavailableError);
    assert.ok(Date.now() - started < 2_000, "timeouts are bounded");
    env.rest.faults.reset();
    assert.equal(await store.getHead("c", A), null);
  },
);

upstashTest(
  "UpstashStore throws StoreUnavailableError when the server is gone or the token is wrong",
  async (env) => {
    const wrong = new UpstashStore({ url: env.rest.url, token: "wrong" });
    await assert.rejects(() => wrong.ping(), /Unauthorized/);
    await assert.rejects(() => wrong.putDeltas([storedDelta("c", A, 1)]), StoreUnavailableError);
    const store = storeOf(env, { retries: 1 });
    await env.rest.stop();
    await assert.rejects(() => store.ping(), StoreUnavailableError);
    await assert.rejects(() => store.putDeltas([storedDelta("c", A, 1)]), StoreUnavailableError);
  },
);

upstashTest(
  "UpstashStore answers a request the client retried after a network error with the first outcomes",
  async (env) => {
    const store = storeOf(env);
    await store.putDeltas([storedDelta("warm", A, 1)]); // loads the script
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
      const batch = [storedDelta("c", A, 1), storedDelta("c", A, 2)];
      const sent = await requestsDuring(env, async () => {
        assert.deepEqual(await store.putDeltas(batch), [
          { status: "accepted", arrival: 1 },
          { status: "accepted", arrival: 2 },
        ]);
      });
      assert.equal(dropped, 1);
      assert.equal(sent, 2, "the client sent the same request twice");
    } finally {
      globalThis.fetch = original;
    }
    assert.equal((await store.listArrivals("c", 0, 10)).deltas.length, 2);
    assert.equal(await store.logHead(), 3, "the replayed request logged nothing twice");
  },
);

upstashTest("UpstashStore.putDeltas() reloads its script after SCRIPT FLUSH", async (env) => {
  const store = storeOf(env);
  await store.putDeltas([storedDelta("c", A, 1)]);
  await withResp(env, (c) => c.command("SCRIPT", "FLUSH"));
  const sent = await requestsDuring(env, async () => {
    assert.deepEqual(await store.putDeltas([storedDelta("c", A, 2)]), [
      { status: "accepted", arrival: 2 },
    ]);
  });
  assert.equal(sent, 2);
});

/** Random batches with repeats, rivals and gaps over a few channels, authors and seqs. */
function randomBatches(seed: number, batches: number, size: number): StoredDelta[][] {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (n: number) => Math.floor(next() * n);
  return Array.from(
    { length: batches },
    () =>
      Array.from(
        { length: 1 + pick(size) },
        () =>
          storedDelta(
            `c${pick(3)}`,
            fakeAuthor(pick(4)),
            1 + pick(8),
            pick(5) === 0 ? "rival" : "",
          ),
      ),
  );
}

async function assertSameState(
  ours: RegionStore,
  model: RegionStore,
  batch: readonly StoredDelta[],
  note: string,
) {
  for (const channel of ["c0", "c1", "c2"]) {
    assert.deepEqual(
      await ours.listArrivals(channel, 0, 1_000),
      await model.listArrivals(channel, 0, 1_000),
      `${note}: arrivals of ${channel}`,
    );
    for (let a = 0; a < 4; a++) {
      assert.deepEqual(
        await ours.getHead(channel, fakeAuthor(a)),
        await model.getHead(channel, fakeAuthor(a)),
        `${note}: head of author ${a} in ${channel}`,
      );
    }
  }
  for (const d of batch) {
    assert.deepEqual(await ours.getDelta(d.channel, d.id), await model.getDelta(d.channel, d.id));
  }
}

upstashTest(
  "UpstashStore.putDeltas() classifies seeded random batches exactly like MemoryStore",
  async (env) => {
    for (const seed of [1, 2, 3]) {
      const store = storeOf(env, { prefix: `seed${seed}:` });
      const model = new MemoryStore();
      for (const [i, batch] of randomBatches(seed, 12, 40).entries()) {
        const note = `seed ${seed}, batch ${i}`;
        assert.deepEqual(await store.putDeltas(batch), await model.putDeltas(batch), note);
        if (i % 4 === 3) await assertSameState(store, model, batch, note);
      }
    }
  },
);

upstashTest(
  "UpstashStore.putDeltas() splits a batch over putRequestBytesMax and keeps its order",
  async (env) => {
    const store = storeOf(env, { putRequestBytesMax: 100_000 });
    const model = new MemoryStore();
    const batch: StoredDelta[] = [];
    for (let seq = 1; seq <= 12; seq++) {
      batch.push(padded("c1", A, seq, 15_000), padded("c2", B, 13 - seq, 15_000));
      if (seq % 4 === 0) batch.push(batch[seq], padded("c1", A, seq - 1, 15_000, "rival"));
    }
    const requests = planRequests(batch, 100_000);
    assert.ok(requests.length >= 4, `${requests.length} requests`);
    for (const request of requests) {
      assert.equal(new Set(request.map((c) => c.channel)).size, request.length);
    }
    await store.putDeltas(batch.slice(0, 1)); // warm the script cache
    await model.putDeltas(batch.slice(0, 1));
    const sent = await requestsDuring(env, async () => {
      assert.deepEqual(await store.putDeltas(batch), await model.putDeltas(batch));
    });
    assert.equal(sent, requests.length);
    for (const channel of ["c1", "c2"]) {
      assert.deepEqual(
        await store.listArrivals(channel, 0, 100),
        await model.listArrivals(channel, 0, 100),
      );
    }
  },
);

upstashTest(
  "UpstashStore.listArrivals() ends a page at listPageBytesMax and reports more",
  async (env) => {
    const store = storeOf(env, { listPageBytesMax: 10_000 });
    const all = Array.from({ length: 10 }, (_, i) => padded("c", A, i + 1, 3_000));
    await store.putDeltas(all);
    const first = await store.listArrivals("c", 0, 10);
    assert.equal(first.deltas.length, 3);
    assert.deepEqual(first.deltas.map((d) => d.arrival), [1, 2, 3]);
    assert.equal(first.cursor, 3);
    assert.equal(first.more, true);
    const huge = storeOf(env, { listPageBytesMax: 1 });
    const one = await huge.listArrivals("c", 4, 10);
    assert.deepEqual(one.deltas.map((d) => d.seq), [5], "a page holds at least one delta");
    const seen: number[] = [];
    for (let cursor = 0, more = true; more;) {
      const page = await store.listArrivals("c", cursor, 10);
      seen.push(...page.deltas.map((d) => d.seq));
      ({ cursor, more } = page);
    }
    assert.deepEqual(seen, all.map((d) => d.seq));
    assert.deepEqual(await store.listArrivals("c", 2, 0), { deltas: [], cursor: 2, more: true });
    await assert.rejects(() => store.listArrivals("c", -1, 5), RangeError);
    await assert.rejects(() => store.listArrivals("c", 0, 1.5), RangeError);
  },
);

upstashTest("UpstashStore keeps seqs near Number.MAX_SAFE_INTEGER exact", async (env) => {
  const store = storeOf(env);
  const top = Number.MAX_SAFE_INTEGER;
  const deltas = [storedDelta("c", A, top - 1), storedDelta("c", A, top)];
  await store.putDeltas(deltas);
  assert.deepEqual(await store.getHead("c", A), { contiguous: 0, max: top, count: 2 });
  assert.deepEqual(await store.getDelta("c", deltas[1].id), deltas[1]);
  assert.deepEqual(await store.putDeltas([storedDelta("c", A, top, "rival")]), [
    { status: "equivocation", arrival: 3, existingId: deltas[1].id },
  ]);
  assert.deepEqual(await store.getHead("c", A), { contiguous: 0, max: top, count: 3 });
});

upstashTest("UpstashStore over a default-configured Redis client behaves alike", async (env) => {
  const store = new UpstashStore(new Redis({ url: env.rest.url, token: env.rest.token }), {
    prefix: "shared:",
  });
  const d = storedDelta("c", A, 1, '{"json": true} 123 "OK" null');
  const rival = storedDelta("c", A, 1, "rival");
  assert.deepEqual(await store.putDeltas([d, d, rival, storedDelta("c", A, 2)]), [
    { status: "accepted", arrival: 1 },
    { status: "duplicate" },
    { status: "equivocation", arrival: 2, existingId: d.id },
    { status: "accepted", arrival: 3 },
  ]);
  assert.deepEqual(await store.getDelta("c", d.id), d);
  assert.deepEqual(await store.getHead("c", A), { contiguous: 2, max: 2, count: 3 });
  const page = await store.listArrivals("c", 0, 10);
  assert.deepEqual(page.deltas.map(({ arrival: _, ...rest }) => rest), [
    d,
    rival,
    storedDelta("c", A, 2),
  ]);
  await store.ping();
});

Deno.test("UpstashStore constructor rejects a bad prefix, URL or token", () => {
  const ok = { url: "https://example.upstash.io", token: "t" };
  assert.throws(() => new UpstashStore({ ...ok, prefix: "a{b}:" }), /'prefix' is invalid/);
  assert.throws(() => new UpstashStore({ ...ok, url: "redis://x" }), /'url' is invalid/);
  assert.throws(() => new UpstashStore({ ...ok, token: "" }), /'token' is invalid/);
  assert.throws(() => new UpstashStore({ ...ok, retries: 99 }), /'retries' is invalid/);
  assert.equal(new UpstashStore(ok).kind, "upstash");
});

Deno.test("UpstashStore.fromEnv() reads UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN", () => {
  const env = new Map([
    ["UPSTASH_REDIS_REST_URL", "https://example.upstash.io"],
    ["UPSTASH_REDIS_REST_TOKEN", "t"],
  ]);
  assert.equal(UpstashStore.fromEnv((n) => env.get(n)).kind, "upstash");
  env.delete("UPSTASH_REDIS_REST_TOKEN");
  assert.throws(() => UpstashStore.fromEnv((n) => env.get(n)), /UPSTASH_REDIS_REST_TOKEN/);
});

Deno.test("planRequests() puts one call per channel in a request and never splits a delta", () => {
  const batch = [
    ...Array.from({ length: 30 }, (_, i) => padded("a", A, i + 1, 9_000)),
    ...Array.from({ length: 5 }, (_, i) => padded("b", A, i + 1, 9_000)),
  ];
  const requests = planRequests(batch, 100_000);
  const order = requests.flatMap((r) => r.flatMap((c) => c.indices));
  assert.deepEqual([...order].sort((x, y) => x - y), batch.map((_, i) => i));
  for (const channel of ["a", "b"]) {
    const indices = requests.flatMap((r) =>
      r.filter((c) => c.channel === channel).flatMap((c) => c.indices)
    );
    assert.deepEqual(indices, [...indices].sort((x, y) => x - y), `${channel} keeps input order`);
  }
  assert.ok(requests.every((r) => new Set(r.map((c) => c.channel)).size === r.length));
  assert.deepEqual(planRequests([padded("a", A, 1, 200_000)], 100_000).length, 1);
});

upstashTest(
  "UpstashStore.takeTokensMany() draws any number of buckets in one round trip, shared by two stores",
  async (env) => {
    const a = storeOf(env), b = storeOf(env);
    const T0 = 1_700_000_000_000;
    const requests = Array.from({ length: 300 }, (_, i) => ({
      bucket: `push:author:${i % 150}`,
      cost: 1,
      ratePerSecond: 1,
      burst: 3,
    }));
    assert.equal(await requestsDuring(env, () => a.takeTokensMany(requests, T0)), 2, "cold script");
    assert.equal(await requestsDuring(env, () => a.takeTokensMany(requests, T0)), 1);
    const grants = await b.takeTokensMany(requests, T0);
    assert.equal(grants.filter((g) => g.allowed).length, 0, "b sees what a drew: 2 × 2 of 3");
    assert.deepEqual(await takeTokens(b, "push:author:7", 1, 1, 3, T0 + 1_000), {
      allowed: true,
      retryAfterMs: 0,
      remaining: 0,
    });
    const ttl = await withResp(env, (c) => c.command("PTTL", "mesh:{~rate}:push:author:7"));
    assert.ok(Number(ttl) > 60_000 && Number(ttl) <= 63_000, `expires when full again: ${ttl}`);
  },
);
