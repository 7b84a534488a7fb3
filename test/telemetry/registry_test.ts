import assert from "node:assert/strict";
import * as names from "../../src/telemetry/names.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { collectTelemetry, loadRegistry } from "../support/telemetry_registry.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

Deno.test("telemetry names in src/telemetry/names.ts are all declared in the registry, and only they", async () => {
  const registry = await loadRegistry();
  const inCode = {
    spans: new Set<string>(),
    metrics: new Set<string>(),
    attributes: new Set<string>(),
  };
  for (const [constant, value] of Object.entries(names)) {
    if (constant.startsWith("SPAN_")) inCode.spans.add(value);
    else if (constant.startsWith("METRIC_")) inCode.metrics.add(value);
    else if (constant.startsWith("ATTR_")) inCode.attributes.add(value);
    else assert.fail(`${constant} has no SPAN_/METRIC_/ATTR_ prefix`);
  }
  assert.deepEqual([...inCode.spans].sort(), [...registry.spans].sort());
  assert.deepEqual([...inCode.metrics].sort(), [...registry.metrics].sort());
  assert.deepEqual([...inCode.attributes].sort(), [...registry.attributes].sort());
});

Deno.test("src/ never spells a telemetry name inline: spans, instruments and attributes use names.ts", async () => {
  const offenders: string[] = [];
  const call =
    /(startActiveSpan|startSpan|createCounter|createHistogram|createUpDownCounter|createGauge|createObservable\w+|setAttribute)\(\s*["'`]/;
  const literalKey = /\[\s*["'`][a-z]+\.[a-z_.]+["'`]\s*\]\s*:/;
  for await (const file of walk(new URL("../../src/", import.meta.url))) {
    if (file.pathname.endsWith("/telemetry/names.ts")) continue;
    const text = await Deno.readTextFile(file);
    text.split("\n").forEach((line, i) => {
      if (call.test(line) || literalKey.test(line)) {
        offenders.push(`${file.pathname}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(offenders, []);
});

Deno.test("every span, metric and attribute a standalone region emits is declared in the registry", async () => {
  const emitted = await collectTelemetry(async () => {
    const store = new MemoryStore();
    const app = createRegionApp({ region: "t", store, now: () => T0_MS });
    const agent = testAgent();
    const d = agent.sign("c", [{ op: "set", key: "k", value: 1 }]);
    const post = (deltas: unknown) =>
      app.request("/v1/deltas", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ deltas }),
      });
    await post([d, d, { body: "{}", sig: "x" }]);
    await app.request("/v1/channels/c");
    await app.request("/v1/channels/c/deltas");
    await app.request("/v1/channels");
    store.failing = true;
    await post([agent.sign("c", [{ op: "del", key: "k" }])]);
    await app.request("/v1/channels/c");
    store.failing = false;
  });
  assert.deepEqual(emitted.undeclared, []);
  assert.deepEqual(
    [...emitted.spans].sort(),
    [
      names.SPAN_PUSH,
      names.SPAN_INGEST_VERIFY,
      names.SPAN_INGEST_COMMIT,
      names.SPAN_TAIL_READ,
      names.SPAN_VIEW_READ,
      names.SPAN_CHANNELS_LIST,
    ].sort(),
  );
  assert.ok(
    emitted.spanRecords.some((s) =>
      s.attributes[names.ATTR_ERROR_TYPE] === "StoreUnavailableError"
    ),
  );
  for (
    const name of [
      names.METRIC_DELTAS_INGESTED,
      names.METRIC_INGEST_DURATION,
      names.METRIC_VIEW_READ_DURATION,
    ]
  ) {
    assert.ok(emitted.metrics.has(name), `${name} was not emitted`);
  }
});

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* walk(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}
