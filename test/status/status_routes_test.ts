import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { StatusBoard } from "../../src/status/board.ts";
import { STATUS_PAGE_CSP } from "../../src/status/page.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { sseEvents } from "../support/sse.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

/** A standalone region whose status streams are capped at 2 (1 per address). */
function standalone() {
  const store = new MemoryStore();
  const board = new StatusBoard({
    region: "solo",
    store,
    now: () => T0_MS,
    feed: { streamsMax: 2, perAddressMax: 1, sampleMs: 20 },
  });
  const app = meshRegionApp({
    region: "solo",
    store,
    board,
    now: () => T0_MS,
    clientAddress: (c) => c.req.header("x-test-address") ?? "10.0.0.1",
  });
  return { app, board, store };
}

async function problem(response: Response, status: number, type: string) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  const body = await response.json();
  assert.equal(body.type, `urn:mesh:problem:${type}`);
  return body;
}

Deno.test("GET /v1/status on a standalone region keeps {region, store, mesh: null} and adds the figures", async () => {
  const { app } = standalone();
  const agent = testAgent(() => T0_MS);
  const push = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas: [agent.sign("c", [{ op: "set", key: "k", value: 1 }])] }),
  });
  assert.equal(push.status, 200);
  await push.body?.cancel();
  const doc = await (await app.request("/v1/status")).json();
  assert.equal(doc.region, "solo");
  assert.equal(doc.store, "memory");
  assert.equal(doc.mesh, null);
  assert.deepEqual(doc.peers, []);
  assert.deepEqual(doc.links, []);
  assert.equal(doc.throughput.agents.at(-1), 1, "the push counted in this second");
  assert.deepEqual(doc.coordination, {
    agents: 0,
    agentsMore: false,
    topics: 0,
    topicsMore: false,
    topicSubscribers: 0,
    statusStreams: 0,
  });
});

Deno.test("GET /v1/status and the stream refuse unknown query parameters (400) and an Accept they cannot meet (406)", async () => {
  const { app } = standalone();
  await problem(await app.request("/v1/status?verbose=1"), 400, "invalid-request");
  await problem(await app.request("/v1/status/stream?since=1"), 400, "invalid-request");
  await problem(
    await app.request("/v1/status", { headers: { accept: "text/html" } }),
    406,
    "not-acceptable",
  );
  await problem(
    await app.request("/v1/status/stream", { headers: { accept: "application/json" } }),
    406,
    "not-acceptable",
  );
  await problem(
    await app.request("/v1/status/stream", { headers: { accept: "text/event-stream;q=0, */*" } }),
    406,
    "not-acceptable",
  );
  await problem(
    await app.request("/", { headers: { accept: "application/json" } }),
    406,
    "not-acceptable",
  );
  const ok = await app.request("/v1/status", { headers: { accept: "application/json" } });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("the status routes answer other methods 405 with Allow, and unknown assets 404, never 500", async () => {
  const { app } = standalone();
  for (const path of ["/v1/status", "/v1/status/stream", "/", "/assets/status.js"]) {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const response = await app.request(path, { method, body: "x" });
      await problem(response, 405, "method-not-allowed");
      assert.equal(response.headers.get("allow"), "GET");
    }
  }
  await problem(await app.request("/assets/nope.js"), 404, "not-found");
  await problem(await app.request("/assets/..%2Fpage.ts"), 404, "not-found");
  await problem(await app.request("/assets/"), 404, "not-found");
  await problem(await app.request("/v1/status/stream/more"), 404, "not-found");
});

Deno.test("GET /v1/status/stream streams snapshots of the document; a third stream is refused 429", async () => {
  const { app, board } = standalone();
  const first = await app.request("/v1/status/stream", {
    headers: { accept: "text/event-stream" },
  });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assert.equal(first.headers.get("cache-control"), "no-cache");
  const events = sseEvents(first);
  const snapshot = (await events.next()).value!;
  assert.equal(snapshot.event, "snapshot");
  const doc = JSON.parse(snapshot.data);
  assert.equal(doc.region, "solo");
  assert.equal(doc.coordination.statusStreams, 1);
  const sameAddress = await app.request("/v1/status/stream");
  await problem(sameAddress, 429, "rate-limited");
  assert.equal(sameAddress.headers.get("retry-after"), "5");
  const second = await app.request("/v1/status/stream", {
    headers: { "x-test-address": "10.0.0.2" },
  });
  assert.equal(second.status, 200);
  await problem(
    await app.request("/v1/status/stream", { headers: { "x-test-address": "10.0.0.3" } }),
    429,
    "rate-limited",
  );
  board.close(); // as on SIGTERM: every stream ends
  assert.equal((await events.next()).done, true);
  await second.body!.cancel();
  assert.equal(board.feed.size, 0);
});

Deno.test("GET / serves the page with a Content-Security-Policy; its files are served with their types and ETags", async () => {
  const { app } = standalone();
  const page = await app.request("/");
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(page.headers.get("content-security-policy"), STATUS_PAGE_CSP);
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  const html = await page.text();
  assert.doesNotMatch(html, /<script>|<style|\sstyle=|\son[a-z]+=/i, "nothing inline");
  for (const src of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
    const asset = await app.request(src[1]);
    assert.equal(asset.status, 200, src[1]);
    assert.match(asset.headers.get("content-type")!, /^text\/(javascript|css); charset=utf-8$/);
    const etag = asset.headers.get("etag")!;
    await asset.body?.cancel();
    const again = await app.request(src[1], { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
  }
  const uplot = await app.request("/assets/uplot.min.js");
  assert.match(await uplot.text(), /uPlot/);
  for (const module of ["status.js", "map.js", "charts.js"]) {
    const text = await (await app.request(`/assets/${module}`)).text();
    for (const imported of text.matchAll(/from "\.\/([a-z]+\.js)"/g)) {
      assert.equal((await app.request(`/assets/${imported[1]}`)).status, 200, imported[1]);
    }
  }
});

Deno.test("GET /v1/status in a mesh: zones, links, fingerprint agreement and peers' health", async () => {
  const mesh = new InProcessMesh([
    { id: "eu-1", zone: "eu" },
    { id: "eu-2", zone: "eu" },
    { id: "us-1", zone: "us" },
  ]);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const doc = await (await mesh.region("eu-1").app.request("/v1/status")).json();
  assert.deepEqual(doc.zones, [
    { id: "eu", regions: ["eu-1", "eu-2"] },
    { id: "us", regions: ["us-1"] },
  ]);
  assert.deepEqual(
    doc.links.map((l: { a: string; b: string; state: string; basis: string }) =>
      `${l.a}|${l.b} ${l.state} ${l.basis}`
    ),
    ["eu-1|eu-2 up measured", "eu-1|us-1 up measured", "eu-2|us-1 up reported"],
  );
  assert.deepEqual(doc.fingerprints, { agree: true, differing: [], unknown: [] });
  assert.deepEqual(doc.peers.map((p: { health: string }) => p.health), ["up", "up"]);
  assert.equal(doc.partition, "majority");
  assert.equal(doc.heartbeatMs, 250);
  for (const member of ["instance", "leader", "reachable", "fingerprint", "deltas", "logHead"]) {
    assert.ok(member in doc, member);
  }
});
