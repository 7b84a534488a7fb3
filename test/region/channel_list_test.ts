/**
 * `GET /v1/channels` through `app.request()`: name order, prefixes, paging every channel exactly
 * once, hostile queries (400 problem+json, nothing written, never 500), system channels, the
 * write-ahead record that survives a failed store write, and channels learned from deltas that
 * peers relayed or anti-entropy repaired.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Hono } from "hono";
import { createRegionApp } from "../../src/region/app.ts";
import {
  CHANNELS_INDEX_ROOT,
  CHANNELS_LIMIT_MAX,
  encodeChannelCursor,
} from "../../src/views/channel_directory.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { type RegionStore, StoreUnavailableError } from "../../src/store/region_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

interface Listing {
  channels: { channel: string; deltas: number }[];
  cursor: string | null;
}

function region(store: RegionStore = new MemoryStore()) {
  const app = createRegionApp({ region: "t", store, now: () => T0_MS });
  const agent = testAgent();
  const push = async (deltas: unknown[]) => {
    const response = await app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas }),
    });
    return { status: response.status, body: await response.json() };
  };
  /** One delta in each channel named (repeats add deltas). */
  const fill = async (channels: string[]) =>
    await push(channels.map((c) => agent.sign(c, [{ op: "inc", counter: "n", by: 1 }])));
  return { app, store, agent, push, fill };
}

async function list(app: Hono, query = ""): Promise<Listing> {
  const response = await app.request(`/v1/channels${query}`);
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json();
}

/** Every page of a listing, following cursors. */
async function listAll(app: Hono, params: Record<string, string>): Promise<Listing[]> {
  const pages: Listing[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams(cursor === null ? params : { ...params, cursor });
    const page = await list(app, `?${query}`);
    pages.push(page);
    cursor = page.cursor;
  } while (cursor !== null && pages.length < 1_000);
  return pages;
}

/** Byte order of ASCII names. */
const byBytes = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0;

Deno.test("GET /v1/channels lists stored channels in byte order with their delta counts, system channels included", async () => {
  const { app, agent, push, fill } = region();
  assert.deepEqual(await list(app), { channels: [], cursor: null });
  const filled = await fill(["b", "a.b", "A", "a", "a-1", "z", "a", "a"]);
  assert.ok(filled.body.results.every((r: { status: string }) => r.status === "accepted"));
  const withdrawn = await push([agent.sign("_registry", [{ op: "del", key: agent.key.id }])]);
  assert.equal(withdrawn.body.results[0].status, "accepted");
  assert.deepEqual(await list(app), {
    channels: [
      { channel: "A", deltas: 1 },
      { channel: "_registry", deltas: 1 },
      { channel: "a", deltas: 3 },
      { channel: "a-1", deltas: 1 },
      { channel: "a.b", deltas: 1 },
      { channel: "b", deltas: 1 },
      { channel: "z", deltas: 1 },
    ],
    cursor: null,
  });
});

Deno.test("GET /v1/channels?prefix= lists the names that start with it, the prefix itself first", async () => {
  const { app, fill } = region();
  await fill(["a", "a-1", "a.b", "ab", "b", "_registry".slice(1), "A"]);
  const names = async (prefix: string) =>
    (await list(app, `?prefix=${encodeURIComponent(prefix)}`)).channels.map((c) => c.channel);
  assert.deepEqual(await names("a"), ["a", "a-1", "a.b", "ab"]);
  assert.deepEqual(await names("a."), ["a.b"]);
  assert.deepEqual(await names("ab"), ["ab"]);
  assert.deepEqual(await names("abc"), []);
  assert.deepEqual(await names("."), []);
  assert.deepEqual(await names(""), ["A", "a", "a-1", "a.b", "ab", "b", "registry"]);
  // A one-element page that holds the prefix itself still says where to go on.
  const first = await list(app, "?prefix=a&limit=1");
  assert.deepEqual(first.channels, [{ channel: "a", deltas: 1 }]);
  assert.equal(first.cursor, encodeChannelCursor("a"));
});

Deno.test("GET /v1/channels pages every channel exactly once, with and without a prefix", async () => {
  const { app, fill } = region();
  const rng = fc.sample(fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/), { numRuns: 150, seed: 7 });
  const names = [...new Set(rng.filter((n) => n !== "." && n !== ".." && !n.startsWith("_")))];
  for (let i = 0; i < names.length; i += 50) await fill(names.slice(i, i + 50));
  for (
    const [params, expected] of [
      [{ limit: "7" }, names],
      [{ limit: "1" }, names],
      [{ limit: "3", prefix: "a" }, names.filter((n) => n.startsWith("a"))],
      [{ limit: String(CHANNELS_LIMIT_MAX) }, names],
    ] as const
  ) {
    const pages = await listAll(app, params);
    const seen = pages.flatMap((p) => p.channels.map((c) => c.channel));
    assert.deepEqual(seen, [...expected].sort(byBytes), JSON.stringify(params));
    assert.ok(pages.every((p) => p.channels.length <= Number(params.limit)));
  }
});

Deno.test("GET /v1/channels refuses hostile parameters with 400 problem+json and writes nothing", async () => {
  const { app, store, fill } = region();
  await fill(["a", "b"]);
  const before = await store.listIndex([], { limit: 1_000 });
  const bad = [
    "?limit=0",
    `?limit=${CHANNELS_LIMIT_MAX + 1}`,
    "?limit=abc",
    "?limit=-1",
    "?limit=",
    "?limit=1&limit=2",
    "?prefix=a/b",
    "?prefix=" + "x".repeat(65),
    "?prefix=%C3%A9",
    "?prefix=a&prefix=b",
    "?cursor=!!",
    "?cursor=" + encodeBase64Url(new TextEncoder().encode("no/slash")),
    "?cursor=" + encodeBase64Url(new TextEncoder().encode("é")),
    "?cursor=" + encodeBase64Url(new TextEncoder().encode("..")),
    "?cursor=" + "A".repeat(200),
    "?cursor=a&cursor=b",
    // A cursor of the prefix "a" listing is not one of the prefix "b" listing.
    `?prefix=b&cursor=${encodeChannelCursor("a")}`,
  ];
  for (const query of bad) {
    const response = await app.request(`/v1/channels${query}`);
    assert.equal(response.status, 400, query);
    assert.equal(response.headers.get("content-type"), "application/problem+json", query);
    const problem = await response.json();
    assert.equal(problem.type, "urn:mesh:problem:invalid-request", query);
    assert.equal(problem.instance, "/v1/channels", query);
  }
  const wrong = await app.request("/v1/channels", { method: "POST" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET");
  assert.deepEqual(await store.listIndex([], { limit: 1_000 }), before);
});

Deno.test("GET /v1/channels answers arbitrary query strings below 500 and writes nothing", async () => {
  const { app, store, fill } = region();
  await fill(["a", "a.b", "b"]);
  const before = await store.listIndex([], { limit: 1_000 });
  const head = await store.logHead();
  const value = fc.oneof(
    fc.string({ maxLength: 90 }),
    fc.constantFrom("a", "", "0", "1", "500", "501", encodeChannelCursor("a.b")),
    fc.uint8Array({ maxLength: 70 }).map(encodeBase64Url),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom("prefix", "limit", "cursor", "x"), value), {
        maxLength: 4,
      }),
      async (params) => {
        const query = new URLSearchParams(params);
        const response = await app.request(`/v1/channels?${query}`);
        assert.ok(
          response.status === 200 || response.status === 400,
          `${query}: ${response.status}`,
        );
        if (response.status === 400) {
          assert.equal(response.headers.get("content-type"), "application/problem+json");
        }
        await response.body?.cancel();
      },
    ),
    { numRuns: 300 },
  );
  assert.deepEqual(await store.listIndex([], { limit: 1_000 }), before);
  assert.equal(await store.logHead(), head);
});

Deno.test("GET /v1/channels answers 503 problem+json with Retry-After when the store is down", async () => {
  const { app, store, fill } = region(new MemoryStore());
  await fill(["a"]);
  (store as MemoryStore).failing = true;
  const response = await app.request("/v1/channels");
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "1");
  assert.equal((await response.json()).type, "urn:mesh:problem:store-unavailable");
});

Deno.test("ingest records a channel before its deltas: a failed store write lists nothing, the retry lists it", async () => {
  const memory = new MemoryStore();
  let failPuts = 1, indexWrites = 0;
  // A store whose next delta write fails after the channel directory's write went through.
  const store = new Proxy(memory, {
    get(target, name) {
      if (name === "putDeltas" && failPuts > 0) {
        failPuts--;
        return () => Promise.reject(new StoreUnavailableError("lost"));
      }
      if (name === "writeIndex") indexWrites++;
      const member = Reflect.get(target, name);
      return typeof member === "function" ? member.bind(target) : member;
    },
  });
  const { app, fill } = region(store);
  assert.equal((await fill(["lost"])).status, 503);
  assert.deepEqual(await memory.readIndex([[CHANNELS_INDEX_ROOT, "lost"]]), [""]);
  assert.deepEqual(await list(app), { channels: [], cursor: null });
  assert.equal((await fill(["lost"])).status, 200);
  assert.deepEqual((await list(app)).channels, [{ channel: "lost", deltas: 1 }]);
  // Later pushes to a channel this instance recorded cost no index write.
  const writes = indexWrites;
  await fill(["lost", "lost"]);
  assert.equal(indexWrites, writes);
  assert.deepEqual((await list(app)).channels, [{ channel: "lost", deltas: 3 }]);
});

Deno.test("GET /v1/channels on a peer lists channels it learned from relayed and repaired deltas", async () => {
  const mesh = new InProcessMesh([{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }]);
  for (let i = 0; i < 4; i++) await mesh.tick();
  const agent = testAgent(() => mesh.nowMs);
  await mesh.push("eu-1", [agent.sign("relayed", [{ op: "set", key: "k", value: 1 }])]);
  for (let i = 0; i < 4; i++) await mesh.tick();
  const peer = mesh.region("eu-2").app;
  assert.deepEqual((await list(peer)).channels, [{ channel: "relayed", deltas: 1 }]);

  // Cut fan-out both ways; only anti-entropy can repair what eu-2 lacks.
  mesh.cut.add("eu-1>eu-2");
  mesh.cut.add("eu-2>eu-1");
  await mesh.push("eu-1", [agent.sign("repaired", [{ op: "set", key: "k", value: 2 }])]);
  for (let i = 0; i < 4; i++) await mesh.tick();
  assert.deepEqual((await list(peer)).channels.map((c) => c.channel), ["relayed"]);
  mesh.cut.clear();
  // No tick (and so no fan-out) from here: anti-entropy alone, past its deferrals to the backlog.
  for (let i = 0; i < 10 && (await list(peer)).channels.length < 2; i++) {
    await mesh.antiEntropy();
  }
  assert.deepEqual((await list(peer)).channels, [
    { channel: "relayed", deltas: 1 },
    { channel: "repaired", deltas: 1 },
  ]);
});
