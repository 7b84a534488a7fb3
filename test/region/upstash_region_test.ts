import assert from "node:assert/strict";
import { createRegionApp } from "../../src/region/app.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";

upstashTest(
  "a region on Upstash answers 503 with Retry-After for a 500, a timeout and a refused connection, and the retry stores each delta once",
  async (env) => {
    const store = new UpstashStore({
      url: env.rest.url,
      token: env.rest.token,
      requestTimeoutMs: 300,
    });
    const app = createRegionApp({ region: "u", store, now: () => T0_MS });
    const agent = testAgent();
    const push = (deltas: unknown[]) =>
      app.request("/v1/deltas", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ deltas }),
      });
    const batch = [
      agent.sign("c", [{ op: "inc", counter: "n", by: 1 }]),
      agent.sign("c", [{ op: "inc", counter: "n", by: 2 }]),
    ];
    // Loads the script, and records channel c in the channel directory, so that each fault below
    // hits the write of the batch itself.
    assert.equal((await push([agent.sign("c", [{ op: "del", key: "k" }])])).status, 200);
    const faults = [
      { mode: "http500" as const },
      { mode: "hang" as const },
      { mode: "close" as const, afterApply: true }, // the script ran; only the answer was lost
    ];
    for (const fault of faults) {
      env.rest.faults.set(fault);
      const response = await push(batch);
      assert.equal(response.status, 503, fault.mode);
      assert.equal(response.headers.get("retry-after"), "1");
      assert.equal((await response.json()).type, "urn:mesh:problem:store-unavailable");
      env.rest.faults.reset();
    }
    const retry = await push(batch);
    assert.equal(retry.status, 200);
    const statuses = (await retry.json()).results.map((r: { status: string }) => r.status);
    assert.deepEqual(statuses, ["duplicate", "duplicate"], "the lost-answer run had stored both");
    const view = await (await app.request("/v1/channels/c")).json();
    assert.equal(view.counters.n, 3);
    assert.equal(view.deltas, 3);

    const gone = new UpstashStore({
      url: "http://127.0.0.1:9",
      token: env.rest.token,
      requestTimeoutMs: 300,
    });
    const refused = createRegionApp({ region: "u", store: gone, now: () => T0_MS });
    const response = await refused.request("/v1/health");
    assert.equal(response.status, 503);
    await response.body?.cancel();
  },
);
