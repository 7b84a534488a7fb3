import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import * as names from "../../src/telemetry/names.ts";
import { collectTelemetry } from "../support/telemetry_registry.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { announce, card, push } from "./_cards.ts";

Deno.test("the registry emits only declared spans, metrics and attributes, and each of its own", async () => {
  const emitted = await collectTelemetry(async () => {
    const store = new MemoryStore();
    const registry = new Registry({ region: "t", store, now: () => T0_MS });
    const app = meshRegionApp({ region: "t", store, now: () => T0_MS, registry });
    const agent = testAgent();
    await push(app, [announce(agent, card("Telemetry"))]);
    await (await app.request("/v1/agents?skill=translate")).body?.cancel();
    await (await app.request(`/v1/agents/${agent.key.id}`)).body?.cancel();
    await registry.tick();
    store.failing = true;
    await (await app.request("/v1/agents")).body?.cancel();
    store.failing = false;
  });
  assert.deepEqual(emitted.undeclared, []);
  for (
    const span of [
      names.SPAN_REGISTRY_INDEX,
      names.SPAN_REGISTRY_DISCOVER,
      names.SPAN_REGISTRY_CARD,
    ]
  ) assert.ok(emitted.spans.has(span), `${span} was not emitted`);
  for (const metric of [names.METRIC_REGISTRY_INDEXED, names.METRIC_REGISTRY_DISCOVER_DURATION]) {
    assert.ok(emitted.metrics.has(metric), `${metric} was not emitted`);
  }
  const triggers = emitted.spanRecords.filter((s) => s.name === names.SPAN_REGISTRY_INDEX)
    .map((s) => s.attributes[names.ATTR_REGISTRY_TRIGGER]);
  assert.deepEqual([...new Set(triggers)].sort(), ["job", "push", "request"]);
  const discovery = emitted.spanRecords.find((s) =>
    s.name === names.SPAN_REGISTRY_DISCOVER && s.attributes[names.ATTR_REGISTRY_LISTING] === "skill"
  );
  assert.equal(discovery?.attributes[names.ATTR_REGISTRY_RESULTS], 1);
  assert.ok(
    emitted.spanRecords.some((s) =>
      s.name === names.SPAN_REGISTRY_DISCOVER &&
      s.attributes[names.ATTR_ERROR_TYPE] === "StoreUnavailableError"
    ),
  );
});
