/**
 * Long-polls on a channel (docs/protocol.md §12.2–12.3): a view read with `If-None-Match` and
 * `wait`, a tail read with `after` and `wait`. Real Deno KV, one instance; a second instance on the
 * same store file shows the region-log path (what another instance stored).
 */
import assert from "node:assert/strict";
import { createRegionApp } from "../../src/region/app.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { channelWatchOf } from "../../src/views/channel_watch.ts";
import { CHANNEL_WAITERS_PER_ADDRESS_MAX } from "../../src/region/channel_wait.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

type App = ReturnType<typeof createRegionApp>;

async function withKv<T>(work: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    return await work(`${dir}/kv.sqlite3`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const regionOn = (store: RegionStore) =>
  createRegionApp({ region: "lp-1", store, now: () => T0_MS });

/** One region on a fresh Deno KV file. */
function withRegion(work: (app: App, store: DenoKvStore) => Promise<void>): Promise<void> {
  return withKv(async (path) => {
    const store = await DenoKvStore.open(path);
    try {
      await work(regionOn(store), store);
    } finally {
      store.close();
    }
  });
}

const push = async (app: App, deltas: unknown[]) =>
  await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });

const view = async (app: App, query = "", tag?: string, signal?: AbortSignal) =>
  await app.request(`/v1/channels/c${query}`, {
    headers: tag === undefined ? {} : { "if-none-match": tag },
    signal,
  });

Deno.test("a view carries an ETag; If-None-Match with the same tag answers 304, with no body", async () => {
  await withRegion(async (app) => {
    const agent = testAgent();
    await push(app, [agent.sign("c", [{ op: "set", key: "x", value: 1 }])]);
    const first = await view(app);
    const tag = first.headers.get("etag")!;
    assert.match(tag, /^"[A-Za-z0-9_-]+"$/);
    assert.equal(tag, `"${(await first.json()).fingerprint}"`);
    const again = await view(app, "", tag);
    assert.equal(again.status, 304);
    assert.equal(await again.text(), "");
    assert.equal(again.headers.get("etag"), tag);
    const other = await view(app, "", `"nope", ${tag}`);
    assert.equal(other.status, 304);
    const stale = await view(app, "", '"nope"');
    assert.equal(stale.status, 200);
  });
});

Deno.test("a waiting view read answers when a push changes the view, not before", async () => {
  await withRegion(async (app) => {
    const agent = testAgent();
    await push(app, [agent.sign("c", [{ op: "set", key: "x", value: 1 }])]);
    const tag = (await view(app)).headers.get("etag")!;
    let answered = false;
    const waiting = view(app, "?wait=10", tag).then((r) => (answered = true, r));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answered, false, "nothing changed: still waiting");
    const started = performance.now();
    await push(app, [agent.sign("c", [{ op: "set", key: "x", value: 2 }])]);
    const response = await waiting;
    assert.ok(performance.now() - started < 5_000);
    assert.equal(response.status, 200);
    assert.notEqual(response.headers.get("etag"), tag);
    assert.deepEqual((await response.json()).map, { x: 2 });
  });
});

Deno.test("a waiting view read ends with 304 when nothing changes; a push elsewhere does not wake it", async () => {
  await withRegion(async (app, store) => {
    const agent = testAgent();
    await push(app, [agent.sign("c", [{ op: "set", key: "x", value: 1 }])]);
    const tag = (await view(app)).headers.get("etag")!;
    const waiting = view(app, "?wait=1", tag);
    await push(app, [agent.sign("other", [{ op: "set", key: "y", value: 1 }])]);
    const response = await waiting;
    assert.equal(response.status, 304);
    assert.equal(response.headers.get("etag"), tag);
    assert.equal(channelWatchOf(store).size, 0, "the waiter is gone");
  });
});

Deno.test("what another instance of the region stores wakes a waiting read, through the region log", async () => {
  await withKv(async (path) => {
    const one = await DenoKvStore.open(path);
    const two = await DenoKvStore.open(path);
    try {
      const [a, b] = [regionOn(one), regionOn(two)];
      const agent = testAgent();
      const tail = a.request("/v1/channels/c/deltas?after=0&wait=10");
      await new Promise((r) => setTimeout(r, 100));
      await push(b, [agent.sign("c", [{ op: "set", key: "x", value: 1 }])]);
      const page = await (await tail).json();
      assert.equal(page.deltas.length, 1);
      assert.equal(page.cursor, "1");
    } finally {
      one.close();
      two.close();
    }
  });
});

Deno.test("a waiting tail read answers at once when something is already after its cursor, and empty at the end of its wait", async () => {
  await withRegion(async (app) => {
    const agent = testAgent();
    await push(app, [agent.sign("c", [{ op: "set", key: "x", value: 1 }])]);
    const started = performance.now();
    const now = await (await app.request("/v1/channels/c/deltas?after=0&wait=30")).json();
    assert.equal(now.deltas.length, 1);
    assert.ok(performance.now() - started < 5_000, "answered without waiting");
    const empty = await (await app.request("/v1/channels/c/deltas?after=1&wait=1")).json();
    assert.deepEqual(empty, { deltas: [], cursor: "1", more: false });
  });
});

Deno.test("a waiting read ends when its client goes away, and bad waits are 400", async () => {
  await withRegion(async (app, store) => {
    const abort = new AbortController();
    const waiting = Promise.resolve(
      app.request("/v1/channels/c/deltas?after=0&wait=30", { signal: abort.signal }),
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(channelWatchOf(store).size, 1);
    abort.abort();
    await waiting.catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(channelWatchOf(store).size, 0);
    for (const wait of ["31", "-1", "1.5", "x", ""]) {
      const r = await app.request(`/v1/channels/c/deltas?wait=${wait}`);
      assert.equal(r.status, 400, `wait=${wait}`);
      assert.equal(r.headers.get("content-type"), "application/problem+json");
      const v = await app.request(`/v1/channels/c?wait=${wait}`);
      assert.equal(v.status, 400, `view wait=${wait}`);
    }
  });
});

Deno.test("one client address holds at most CHANNEL_WAITERS_PER_ADDRESS_MAX waiting reads (429 past it)", async () => {
  await withRegion(async (app) => {
    const abort = new AbortController();
    const held = Array.from(
      { length: CHANNEL_WAITERS_PER_ADDRESS_MAX },
      () => app.request("/v1/channels/c/deltas?wait=30", { signal: abort.signal }),
    );
    await new Promise((r) => setTimeout(r, 200));
    const refused = await app.request("/v1/channels/c/deltas?wait=30");
    assert.equal(refused.status, 429);
    assert.ok(refused.headers.get("retry-after"));
    abort.abort();
    await Promise.allSettled(held);
  });
});
