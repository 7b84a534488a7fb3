/** The author endpoint after gaps filled in one push (issue 16), on every store. */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { bodyOf, signBody, T0_MS } from "../support/signing.ts";

async function pushSeqs(app: ReturnType<typeof createRegionApp>, key: AgentKey, seqs: number[]) {
  const deltas = seqs.map((seq) => signBody(key, JSON.stringify(bodyOf(key, { seq }))));
  const response = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  assert.equal(response.status, 200);
}

for (
  const [name, open] of [
    ["DenoKvStore", () => DenoKvStore.open(":memory:")],
    ["MemoryStore", () => Promise.resolve(new MemoryStore())],
  ] as [string, () => Promise<RegionStore>][]
) {
  Deno.test(`GET /v1/channels/{ch}/authors/{author} (${name}) reports the head the view shows after one push fills a gap with several seqs`, async () => {
    const store = await open();
    try {
      const app = createRegionApp({ region: "test-1", store, now: () => T0_MS });
      const key = AgentKey.generate();
      await pushSeqs(app, key, [1, 2, 5, 6]);
      await pushSeqs(app, key, [3, 4]);
      const head = await (await app.request(`/v1/channels/c/authors/${key.id}`)).json();
      assert.deepEqual(head, { channel: "c", author: key.id, contiguous: 6, max: 6, count: 6 });
      const view = await (await app.request("/v1/channels/c")).json();
      assert.equal(view.heads[key.id], 6);
    } finally {
      await store.close();
    }
  });
}
