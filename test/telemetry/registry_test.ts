import assert from "node:assert/strict";
import * as names from "../../src/telemetry/names.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { collectTelemetry, loadRegistry } from "../support/telemetry_registry.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { meshWorkload } from "./_mesh_workload.ts";

/**
 * Declared names the workload below does not reach, each seen by its own feature's tests instead
 * (file named): only names of features still being built by others belong here, and every entry
 * must be declared in the registry. Keep it short; prefer adding a step to the workload.
 */
const OBSERVED_ELSEWHERE: Readonly<Record<string, string>> = {};

Deno.test("telemetry names in src/telemetry/names.ts are all declared in the registry, and only they", async () => {
  const registry = await loadRegistry();
  const inCode = {
    spans: new Set<string>(),
    metrics: new Set<string>(),
    attributes: new Set<string>(),
    events: new Set<string>(),
  };
  for (const [constant, value] of Object.entries(names)) {
    if (constant.startsWith("SPAN_")) inCode.spans.add(value);
    else if (constant.startsWith("METRIC_")) inCode.metrics.add(value);
    else if (constant.startsWith("ATTR_")) inCode.attributes.add(value);
    else if (constant.startsWith("EVENT_")) inCode.events.add(value);
    else assert.fail(`${constant} has no SPAN_/METRIC_/ATTR_/EVENT_ prefix`);
  }
  assert.deepEqual([...inCode.spans].sort(), [...registry.spans].sort());
  assert.deepEqual([...inCode.metrics].sort(), [...registry.metrics].sort());
  assert.deepEqual([...inCode.attributes].sort(), [...registry.attributes].sort());
  assert.deepEqual([...inCode.events].sort(), [...registry.events].sort());
});

Deno.test("every declared span and metric is seen in a representative mesh workload, and nothing undeclared", async () => {
  const registry = await loadRegistry();
  const declared = new Set([...registry.spans, ...registry.metrics]);
  const stale = Object.keys(OBSERVED_ELSEWHERE).filter((name) => !declared.has(name));
  assert.deepEqual(stale, [], "OBSERVED_ELSEWHERE lists names the registry does not declare");
  const emitted = await collectTelemetry(meshWorkload);
  assert.deepEqual(emitted.undeclared, []);
  const seen = new Set([...emitted.spans, ...emitted.metrics]);
  const unseen = [...declared].filter((name) => !seen.has(name) && !(name in OBSERVED_ELSEWHERE));
  assert.deepEqual(unseen.sort(), [], "declared but never emitted by the workload");
  // The log events of a running mesh were written too (the others come from main.ts, a process
  // test: region started and stopped; or from failures the workload does not cause).
  for (
    const event of [
      names.EVENT_PEER_UP,
      names.EVENT_PEER_DOWN,
      names.EVENT_PARTITION_CHANGED,
      names.EVENT_LEADER_GAINED,
      names.EVENT_LEADER_LOST,
      names.EVENT_STORE_ERROR,
      names.EVENT_JOB_FAILED,
      names.EVENT_HTTP_REQUEST,
    ]
  ) assert.ok(emitted.events.has(event), `${event} was not logged`);
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
