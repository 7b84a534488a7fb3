/**
 * Review of 5ff2029: `If-None-Match: *` matches any view (§12.2), so a waiting read with it can
 * never be answered early: it holds its slot for the whole `wait` (up to 30 s), reading the view
 * again at every change of the channel, and ends in a 304 it could have given at once — while the
 * doc says a waiting read is answered 200 "at once" when the view changes. RFC 9110 §13.1.2: `*`
 * is false whenever a current representation exists, so the answer is 304, now.
 */
import assert from "node:assert/strict";
import { createRegionApp } from "../../src/region/app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

Deno.test("a view read with If-None-Match: * and a wait is answered 304 at once", async () => {
  const app = createRegionApp({ region: "lp-1", store: new MemoryStore(), now: () => T0_MS });
  const agent = testAgent();
  await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas: [agent.sign("c", [{ op: "set", key: "x", value: 1 }])] }),
  });
  const started = performance.now();
  const answer = await app.request("/v1/channels/c?wait=3", { headers: { "if-none-match": "*" } });
  const tookMs = performance.now() - started;
  assert.equal(answer.status, 304);
  assert.ok(answer.headers.get("etag"));
  assert.ok(tookMs < 1_000, `answered after ${Math.round(tookMs)} ms`);
});
