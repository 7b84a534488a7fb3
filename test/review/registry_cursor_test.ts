/**
 * Review of GET /v1/agents paging (6d50d4e, docs/protocol.md §20.4): crafted cursors (another
 * listing's, cut, forged inside the listing, huge or odd values, bad base64 or UTF-8) always
 * answer 400 problem+json or a normal page — never a 500 — and one request's store work is
 * bounded whatever the cursor and query: at most DISCOVER_SCAN_ENTRIES_MAX / page listing
 * reads, as many batched record reads, and one page of records for the answer.
 */
import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import {
  DISCOVER_PAGE_ENTRIES,
  DISCOVER_SCAN_ENTRIES_MAX,
  encodeCursor,
} from "../../src/registry/discovery.ts";
import { invTs } from "../../src/registry/index_layout.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { IndexKey, IndexListOptions } from "../../src/store/region_store.ts";
import { fakeAuthor } from "../support/deltas.ts";
import { T0_MS } from "../support/signing.ts";
import { card, cardRecord, discover } from "../registry/_cards.ts";

class CountingStore extends MemoryStore {
  lists = 0;
  reads = 0;
  readKeys = 0;
  override listIndex(prefix: IndexKey, options: IndexListOptions) {
    this.lists++;
    return super.listIndex(prefix, options);
  }
  override readIndex(keys: readonly IndexKey[]) {
    this.reads++;
    this.readKeys += keys.length;
    return super.readIndex(keys);
  }
  reset() {
    this.lists = this.reads = this.readKeys = 0;
  }
}

/** A region with `n` agents, all tagged `common`, one in 500 also `rare`, indexed. */
async function region(n: number) {
  const store = new CountingStore();
  const registry = new Registry({ region: "eu-1", store, now: () => T0_MS });
  const app = meshRegionApp({ region: "eu-1", store, now: () => T0_MS, registry });
  const records = Array.from({ length: n }, (_, i) =>
    cardRecord(
      fakeAuthor(i),
      1,
      T0_MS - i,
      0,
      card(`Agent ${i}`, { work: i % 500 === 0 ? ["common", "rare"] : ["common"] }),
    ));
  for (let i = 0; i < records.length; i += 256) {
    await store.putDeltas(records.slice(i, i + 256));
  }
  await registry.indexer.catchUp();
  return { store, app };
}

async function problem(app: ReturnType<typeof meshRegionApp>, query: string) {
  const response = await app.request(`/v1/agents?${query}`);
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    body: await response.json(),
  };
}

Deno.test("registry review (guard): crafted cursors answer 400 problem+json, never a 500", async () => {
  const { app } = await region(30);
  const good = (await discover(app, "tag=common&limit=5")).cursor!;
  const author = fakeAuthor(3);
  const json = (v: unknown) => encodeBase64Url(new TextEncoder().encode(JSON.stringify(v)));
  const bad = [
    good.slice(0, -3), // cut
    good + "A", // one more character
    "!!!", // not base64url
    encodeBase64Url(new Uint8Array([0xff, 0xfe, 0x80])), // not UTF-8
    json({ a: 1 }),
    json(["registry", "tag", "common", invTs(T0_MS)]),
    json(["registry", "tag", "common", invTs(T0_MS), author, "x"]),
    json(["registry", "tag", "other", invTs(T0_MS), author]), // another listing
    json(["registry", "all", invTs(T0_MS), author]), // the all listing
    json(["registry", "tag", "common", "9".repeat(16), author]), // above INTEGER_MAX
    json(["registry", "tag", "common", "1e15", author]),
    json(["registry", "tag", "common", "-000000000000001", author]),
    json(["registry", "tag", "common", invTs(T0_MS), "not-an-id"]),
    json(["registry", "tag", "common", invTs(T0_MS), 42]),
    json(["registry", "tag", "common", { "__proto__": 1 }, author]),
    "A".repeat(1_025),
    json(["registry", "tag", "common", invTs(T0_MS), author + "\u0000"]),
  ];
  for (const cursor of bad) {
    const answer = await problem(app, `tag=common&cursor=${encodeURIComponent(cursor)}`);
    assert.equal(answer.status, 400, `${cursor}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.type, "application/problem+json");
    assert.match(answer.body.detail, /cursor/);
  }
  // The same cursor for the same listing in another case of the tag is fine; another tag not.
  assert.equal((await problem(app, `tag=COMMON&cursor=${good}`)).status, 200);
  assert.equal((await problem(app, `tag=common&tag=rare&cursor=${good}`)).status, 200);
  assert.equal((await problem(app, `tag=rare&tag=common&cursor=${good}`)).status, 400);
  // Two cursors are refused, an empty one is no cursor.
  assert.equal((await problem(app, `tag=common&cursor=${good}&cursor=${good}`)).status, 400);
  assert.equal((await problem(app, "tag=common&cursor=")).status, 200);
  // Forged inside the listing: a normal page from there (anyone could have walked to it).
  const forged = encodeCursor(["registry", "tag", "common", invTs(0), author]);
  const page = await problem(app, `tag=common&cursor=${forged}`);
  assert.equal(page.status, 200);
  assert.deepEqual(page.body.agents, []);
  assert.equal(page.body.cursor, null);
  const first = encodeCursor(["registry", "tag", "common", "0".repeat(16), author]);
  assert.equal((await problem(app, `tag=common&cursor=${first}&limit=100`)).body.agents.length, 30);
});

Deno.test("registry review (guard): one discovery request costs bounded store work", async () => {
  const { app, store } = await region(DISCOVER_SCAN_ENTRIES_MAX + 600);
  const listsMax = Math.ceil(DISCOVER_SCAN_ENTRIES_MAX / DISCOVER_PAGE_ENTRIES);
  for (const query of ["tag=common&tag=nothing", "tag=common&q=zzz", "q=agent+nothing", ""]) {
    store.reset();
    const page = await problem(app, `${query}&limit=100`);
    assert.equal(page.status, 200);
    assert.ok(store.lists <= listsMax, `${query}: ${store.lists} listings`);
    // Record batches, the answer's liveness, and the catch-up's cursor read at most.
    assert.ok(store.reads <= listsMax + 2, `${query}: ${store.reads} reads`);
    assert.ok(
      store.readKeys <= DISCOVER_SCAN_ENTRIES_MAX + 100,
      `${query}: ${store.readKeys} keys read`,
    );
  }
  // Following the cursors of a rare combination ends, and finds each match once.
  const seen: string[] = [];
  let cursor: string | null = "";
  let requests = 0;
  while (cursor !== null) {
    const page = await discover(app, `tag=common&tag=rare&limit=2&cursor=${cursor}`);
    seen.push(...page.agents.map((a) => a.id));
    cursor = page.cursor;
    requests++;
  }
  assert.equal(seen.length, new Set(seen).size);
  assert.equal(seen.length, Math.ceil((DISCOVER_SCAN_ENTRIES_MAX + 600) / 500));
  assert.ok(requests <= 5, `${requests} requests`);
});
