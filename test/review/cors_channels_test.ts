/**
 * Review of GET /v1/channels (docs/protocol.md §12.9) and of the ingest hook that records channels
 * (src/views/channel_directory.ts), attacker's side.
 *
 * Guards (passing): every listing request costs at most one listIndex, one readIndex and one
 * arrivalCounts call and writes nothing, also over thousands of directory entries with no delta
 * (a page may be empty and still carry a cursor, and the walk ends); forged, cut, foreign-prefix,
 * non-canonical and non-ASCII cursors are 400, never 500; the directory costs one index write per
 * fresh channel (in writes of 64 names), none for a channel this instance recorded lately.
 *
 * Defect (performance; fixed 2026-11-28, the test below passes): the "recorded lately" memory is
 * per instance and bounded (CHANNELS_KNOWN_MAX = 10,000, LRU), so once an instance had seen more
 * channels than that — or after every restart / new isolate — a push to a channel that already
 * holds deltas paid a second, sequential store commit before its own. An agent that cycled through
 * 10,001 channels (within its rate limits) made every other agent's push pay it too. Now a channel
 * this instance does not remember is looked up (one index read) and written only when missing.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { createRegionApp } from "../../src/region/app.ts";
import {
  channelDirectoryOf,
  channelIndexKey,
  CHANNELS_CURSOR_CHARS_MAX,
  CHANNELS_KNOWN_MAX,
  CHANNELS_LIMIT_MAX,
  encodeChannelCursor,
} from "../../src/views/channel_directory.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

/** A store that counts the calls of each method. */
function counted(store: RegionStore) {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls[String(name)] = (calls[String(name)] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  const since = (before: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(calls).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0),
    ) as Record<string, number>;
  return { store: proxy as RegionStore, calls, since };
}

const GENEROUS = {
  addressPushRatePerS: 1e6,
  addressPushBurst: 1e6,
  authorDeltaRatePerS: 1e6,
  authorDeltaBurst: 1e6,
};

function region(inner: RegionStore = new MemoryStore()) {
  const { store, calls, since } = counted(inner);
  const app = createRegionApp({ region: "t", store, now: () => T0_MS, rateLimits: GENEROUS });
  return { app, store, calls, since };
}

async function push(app: Hono, deltas: unknown[]) {
  const response = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  await response.body?.cancel();
}

/** Pushes one delta in each channel, 256 a push. */
async function fill(app: Hono, channels: string[]) {
  const agent = testAgent();
  for (let i = 0; i < channels.length; i += 256) {
    await push(
      app,
      channels.slice(i, i + 256).map((c) => agent.sign(c, [{ op: "set", key: "k", value: 1 }])),
    );
  }
}

Deno.test("cors channels: each listing request is bounded, over thousands of entries with no delta", async () => {
  const { app, store, calls, since } = region();
  // Thousands of directory entries whose deltas were never written (crashes between record and commit),
  // around 5 real channels.
  const orphans = Array.from({ length: 3_000 }, (_, i) => `o${String(i).padStart(5, "0")}`);
  const total = orphans.length + 5;
  for (let i = 0; i < orphans.length; i += 128) {
    await store.writeIndex({
      set: orphans.slice(i, i + 128).map((c) => ({ key: channelIndexKey(c), value: "" })),
    });
  }
  await fill(app, ["a", "o00100x", "o02999", "p", "zz"]);
  for (const limit of [7, 100, CHANNELS_LIMIT_MAX]) {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const before = { ...calls };
      const query = new URLSearchParams({ limit: String(limit) });
      if (cursor !== null) query.set("cursor", cursor);
      const response = await app.request(`/v1/channels?${query}`);
      assert.equal(response.status, 200);
      const page = await response.json();
      const cost = since(before);
      assert.ok((cost.listIndex ?? 0) <= 1 && (cost.readIndex ?? 0) <= 1, JSON.stringify(cost));
      assert.ok((cost.arrivalCounts ?? 0) <= 1, JSON.stringify(cost));
      assert.deepEqual(
        Object.keys(cost).filter((k) => !["listIndex", "readIndex", "arrivalCounts"].includes(k)),
        [],
        `a listing called ${JSON.stringify(cost)}`,
      );
      assert.ok(page.channels.length <= limit);
      seen.push(...page.channels.map((c: { channel: string }) => c.channel));
      cursor = page.cursor;
      pages++;
    } while (cursor !== null && pages < 10_000);
    assert.deepEqual(seen, ["a", "o00100x", "o02999", "p", "zz"], `limit ${limit}`);
    assert.ok(pages <= Math.ceil(total / limit) + 1, `limit ${limit}: ${pages} pages`);
  }
});

Deno.test("cors channels: hostile cursors and prefixes are 400 problem+json, never 500", async () => {
  const { app, calls, since } = region();
  await fill(app, ["demo", "design", "zeta"]);
  const longName = "d".repeat(64);
  const cases: [string, number][] = [
    [`?prefix=de&cursor=${encodeChannelCursor("zeta")}`, 400], // another prefix's cursor
    [`?prefix=de&cursor=${encodeChannelCursor("d")}`, 400], // before the prefix
    [`?prefix=de&cursor=${encodeChannelCursor("de")}`, 200], // the prefix itself
    [`?prefix=de&cursor=${encodeChannelCursor(longName.replace(/^d/, "de").slice(0, 64))}`, 200],
    [`?cursor=${encodeChannelCursor(longName)}`, 200],
    [`?cursor=${"A".repeat(CHANNELS_CURSOR_CHARS_MAX + 1)}`, 400],
    [`?cursor=ZGVtbx`, 400], // non-canonical trailing bits
    [`?cursor=ZGVtbw==`, 400], // padding
    [`?cursor=${encodeBase64Url(new Uint8Array([0x64, 0xc3, 0xa9]))}`, 400], // not ASCII
    [`?cursor=${encodeBase64Url(new Uint8Array([0x64, 0x00]))}`, 400], // NUL
    [`?cursor=${encodeBase64Url(new Uint8Array([0x64, 0x2f]))}`, 400], // "/"
    [`?cursor=%E0%A4%A`, 400], // broken percent-encoding
    [`?prefix=${"a".repeat(64)}`, 200],
    [`?prefix=${"a".repeat(65)}`, 400],
    [`?prefix=%00`, 400],
    [`?prefix=de&prefix=de`, 400],
    [`?limit=${CHANNELS_LIMIT_MAX}`, 200],
    [`?limit=0${CHANNELS_LIMIT_MAX}`, 200],
    [`?limit=${CHANNELS_LIMIT_MAX + 1}`, 400],
    [`?limit=1e2`, 400],
    [`?limit=%201`, 400],
  ];
  const before = { ...calls };
  for (const [query, status] of cases) {
    const response = await app.request(`/v1/channels${query}`);
    assert.equal(response.status, status, query);
    if (status === 400) {
      assert.equal(response.headers.get("content-type"), "application/problem+json", query);
    }
    await response.body?.cancel();
  }
  const writes = Object.keys(since(before)).filter((k) => /write|put|take|claim/i.test(k));
  assert.deepEqual(writes, [], "a listing wrote");
});

Deno.test("cors channels: the directory costs one index write per fresh channel, none for a known one", async () => {
  const { app, calls, since } = region();
  const agent = testAgent();
  const op = [{ op: "set" as const, key: "k", value: 1 }];
  let before = { ...calls };
  await push(app, [agent.sign("fresh", op)]);
  assert.equal(since(before).writeIndex, 1, "first push to a channel");
  before = { ...calls };
  await push(app, [agent.sign("fresh", op), agent.sign("fresh", op)]);
  assert.equal(since(before).writeIndex, undefined, "a known channel");
  before = { ...calls };
  const wide = Array.from({ length: 256 }, (_, i) => `wide-${i}`);
  await push(app, wide.map((c) => agent.sign(c, op)));
  const cost = since(before);
  // 256 fresh channels: 4 sequential index writes (64 names each) before the one commit.
  assert.equal(cost.writeIndex, 4);
  assert.equal(cost.putDeltas, 1);
});

// Was a DEFECT (performance): a push to a channel that already stores deltas paid a directory
// write once the instance had forgotten it (more than CHANNELS_KNOWN_MAX channels since, or a
// restart / a new isolate). Fixed: the directory reads the entries it does not remember first.
Deno.test({
  name: "cors channels (fixed): a push to a channel with stored deltas costs no directory write",
  async fn() {
    const inner = new MemoryStore();
    const { app } = region(inner);
    await fill(app, ["old"]);
    // The same store on a fresh instance (restart / another isolate): no directory write for "old".
    const second = region(inner);
    const before = { ...second.calls };
    await push(second.app, [testAgent().sign("old", [{ op: "set", key: "k", value: 2 }])]);
    assert.equal(second.since(before).writeIndex, undefined, "a restart re-records channels");
    // One instance past its memory: a channel with stored deltas is "fresh" again.
    const cycled = Array.from({ length: CHANNELS_KNOWN_MAX + 1 }, (_, i) => `c${i}`);
    const third = region(new MemoryStore());
    await fill(third.app, cycled);
    const mark = { ...third.calls };
    await push(third.app, [testAgent().sign("c0", [{ op: "set", key: "k", value: 2 }])]);
    assert.equal(third.since(mark).writeIndex, undefined, "a forgotten channel is re-recorded");
  },
});

Deno.test("cors channels: an instance that saw more than CHANNELS_KNOWN_MAX channels looks a forgotten one up (one read), and writes nothing", async () => {
  const { app, calls, since } = region();
  const cycled = Array.from({ length: CHANNELS_KNOWN_MAX + 1 }, (_, i) => `c${i}`);
  await fill(app, cycled);
  let before = { ...calls };
  await push(app, [testAgent().sign("c0", [{ op: "set", key: "k", value: 2 }])]);
  const cost = since(before);
  assert.equal(cost.writeIndex, undefined, "c0 was forgotten, but it is recorded: no write");
  assert.equal(cost.readIndex, 1, "one index read to find it recorded");
  before = { ...calls };
  await push(app, [testAgent().sign("c0", [{ op: "set", key: "k", value: 3 }])]);
  assert.equal(since(before).writeIndex, undefined);
});

Deno.test("cors channels: what the directory write costs a push on Deno KV (measured, not asserted)", async () => {
  const dir = await Deno.makeTempDir();
  const kv = await DenoKvStore.open(`${dir}/kv.sqlite3`);
  try {
    const { app, store } = region(kv);
    const agent = testAgent();
    const op = [{ op: "set" as const, key: "k", value: 1 }];
    await push(app, [agent.sign("warm", op)]);
    const n = 60;
    // Fresh channels the instance already recorded (no directory write) against fresh ones.
    await channelDirectoryOf(store).record(Array.from({ length: n }, (_, i) => `pre-${i}`));
    const time = async (channel: (i: number) => string) => {
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await push(app, [agent.sign(channel(i), op)]);
        ms.push(performance.now() - t);
      }
      ms.sort((a, b) => a - b);
      return ms[Math.floor(n / 2)];
    };
    const known = await time(() => "warm");
    const recorded = await time((i) => `pre-${i}`);
    const fresh = await time((i) => `fresh-${i}`);
    console.log(
      `push of one delta, median: known channel ${known.toFixed(2)} ms, new channel already ` +
        `recorded ${recorded.toFixed(2)} ms, new channel with its directory write ` +
        `${fresh.toFixed(2)} ms (${(fresh / recorded).toFixed(2)}x)`,
    );
  } finally {
    await kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});
