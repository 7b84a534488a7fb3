import assert from "node:assert/strict";
import { signRequest } from "../../src/client/request_signer.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import * as names from "../../src/telemetry/names.ts";
import { collectTelemetry } from "../support/telemetry_registry.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

Deno.test("heartbeats emit mesh.registry.heartbeat with the outcome and count refusals, all declared", async () => {
  const emitted = await collectTelemetry(async () => {
    const store = new MemoryStore();
    const registry = new Registry({ region: "t", store, now: () => T0_MS });
    const app = meshRegionApp({ region: "t", store, now: () => T0_MS, registry });
    const agent = testAgent();
    const url = `http://localhost/v1/agents/${agent.key.id}/heartbeat`;
    const signed = await signRequest(agent.key, new Request(url, { method: "POST" }), {
      nowMs: T0_MS,
    });
    for (const request of [signed.clone(), signed, new Request(url, { method: "POST" })]) {
      await (await app.request(request)).body?.cancel();
    }
  });
  assert.deepEqual(emitted.undeclared, []);
  const outcomes = emitted.spanRecords.filter((s) => s.name === names.SPAN_REGISTRY_HEARTBEAT)
    .map((s) => s.attributes[names.ATTR_AGENT_SIGNATURE_OUTCOME]);
  assert.deepEqual(outcomes, ["verified", "replayed", "missing"]);
  assert.ok(emitted.metrics.has(names.METRIC_AGENT_SIGNATURE_REFUSALS));
});
