/**
 * Hostile input on the registry's routes, fuzzed like `/v1/deltas`: arbitrary query strings,
 * path segments and methods. Never a 500; every refusal is problem+json; nothing is written to
 * the store (the region log does not move); bad queries get the 400 they deserve.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { DISCOVER_Q_CHARS_MAX, DISCOVER_TAGS_MAX } from "../../src/registry/discovery.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { announce, card, discover, push } from "./_cards.ts";

async function region() {
  const store = new MemoryStore();
  const app = meshRegionApp({ region: "eu-1", store, now: () => T0_MS });
  const agents = Array.from({ length: 3 }, () => testAgent());
  await push(app, agents.map((a, i) => announce(a, card(`Agent ${i}`, { work: ["t"] }))));
  return { store, app, agents };
}

async function assertProblem(response: Response, status: number, label: string) {
  assert.equal(response.status, status, label);
  assert.equal(response.headers.get("content-type"), "application/problem+json", label);
  const body = await response.json();
  assert.equal(body.status, status, label);
}

Deno.test("GET /v1/agents refuses bad queries with 400 problem+json", async () => {
  const { app } = await region();
  const cursor = (await discover(app, "limit=1")).cursor!;
  const bad = [
    "limit=0",
    "limit=101",
    "limit=-1",
    "limit=1.5",
    "limit=abc",
    "limit=1&limit=2",
    "skill=a&skill=b",
    `q=${"a".repeat(DISCOVER_Q_CHARS_MAX + 1)}`,
    "q=a+b+c+d+e+f+g+h+i",
    "q=%21%21%21",
    "cursor=%%%",
    "cursor=not-a-cursor",
    `cursor=${btoa('["registry","all","x","y"]')}`,
    `cursor=${cursor}&tag=t`, // a cursor of another listing
    `cursor=${cursor.slice(0, -3)}`,
    `cursor=${"A".repeat(5_000)}`,
    Array.from({ length: DISCOVER_TAGS_MAX + 1 }, (_, i) => `tag=t${i}`).join("&"),
    `tag=${"x".repeat(65)}`,
    "tag=",
    "skill=",
    "skill=%00",
    `skill=${"s".repeat(65)}`,
  ];
  for (const query of bad) {
    await assertProblem(await app.request(`/v1/agents?${query}`), 400, query);
  }
  assert.equal((await app.request(`/v1/agents?cursor=${cursor}`)).status, 200);
  assert.equal((await app.request("/v1/agents?q=&cursor=")).status, 200, "empty means absent");
});

Deno.test("the registry routes answer 405 with Allow for other methods and 404 below them", async () => {
  const { app, agents } = await region();
  for (const path of ["/v1/agents", `/v1/agents/${agents[0].key.id}`]) {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const response = await app.request(path, { method });
      await assertProblem(response, 405, `${method} ${path}`);
      assert.equal(response.headers.get("allow"), "GET");
    }
  }
  await assertProblem(await app.request(`/v1/agents/${agents[0].key.id}/x/y`), 404, "deeper");
});

Deno.test("fuzzed queries and ids on the registry routes: never a 500, nothing written, still healthy", async () => {
  const { app, store } = await region();
  const logBefore = await store.logHead();
  const part = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.constantFrom("%", "%E0%A4%A", "%00", "%FF", "&", "=", "+", "%2F", "..", "\u{1F600}"),
  );
  const param = fc.tuple(
    fc.constantFrom("skill", "tag", "q", "limit", "cursor", "x", ""),
    part,
  ).map(([k, v]) => `${k}=${v}`);
  await fc.assert(
    fc.asyncProperty(fc.array(param, { maxLength: 12 }), part, async (params, id) => {
      for (
        const path of [
          `/v1/agents?${params.join("&")}`,
          `/v1/agents/${encodeURIComponent(id)}`,
          `/v1/agents/${id}`,
        ]
      ) {
        let response: Response;
        try {
          response = await app.request(path);
        } catch {
          continue; // a URL the fetch API itself refuses never reaches the region
        }
        assert.ok(response.status < 500, `${path} answered ${response.status}`);
        if (response.status !== 200) {
          assert.equal(response.headers.get("content-type"), "application/problem+json", path);
        }
        await response.body?.cancel();
      }
    }),
    { numRuns: 300 },
  );
  assert.equal(await store.logHead(), logBefore);
  assert.equal((await app.request("/v1/health")).status, 200);
  assert.equal((await discover(app)).agents.length, 3);
});

Deno.test("a store outage answers 503 problem+json on the registry routes, and they recover", async () => {
  const { app, store, agents } = await region();
  store.failing = true;
  for (const path of ["/v1/agents", `/v1/agents/${agents[0].key.id}`]) {
    const response = await app.request(path);
    await assertProblem(response, 503, path);
    assert.equal(response.headers.get("retry-after"), "1");
  }
  store.failing = false;
  assert.equal((await discover(app)).agents.length, 3);
});
