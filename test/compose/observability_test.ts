/**
 * The composition root's observability parts, without processes: the Prometheus text of every
 * instrument kind, the bearer check of `/metrics`, the instrumented store, and the configuration
 * of logs and metrics (never a secret in the start line).
 */
import assert from "node:assert/strict";
import { configSummary, regionConfig } from "../../src/compose/config.ts";
import { instrumentStore } from "../../src/compose/instrumented_store.ts";
import { bearerMatches, metricsRoute, metricsScrape } from "../../src/compose/metrics_route.ts";
import { prometheusName } from "../../src/compose/prometheus_text.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { configureLog, LOG_REPEAT_MS, LogThrottle } from "../../src/telemetry/log.ts";
import { createTelemetry, names } from "../../src/telemetry/mod.ts";

Deno.test("metricsScrape(): counters, up-down counters, gauges and histograms in Prometheus text", async () => {
  const scrape = metricsScrape();
  const telemetry = createTelemetry({ meters: [scrape.meter] });
  const region = { [names.ATTR_REGION]: "eu-1" };
  telemetry.deltasIngested.add(2, { ...region, [names.ATTR_OUTCOME]: "accepted" });
  telemetry.topicSubscribers.add(3, { ...region, [names.ATTR_TOPIC_SUBJECT]: 'a"b\\c\nd' });
  telemetry.topicSubscribers.add(-1, { ...region, [names.ATTR_TOPIC_SUBJECT]: 'a"b\\c\nd' });
  telemetry.peerPhi.record(0.5, { ...region, [names.ATTR_PEER]: "eu-2" });
  telemetry.syncBytes.add(1_000, region);
  telemetry.ingestDuration.record(0.003, region);
  telemetry.ingestDuration.record(7, region);
  const text = await scrape.scrape();
  await scrape.close();
  const expected = [
    "# HELP mesh_deltas_ingested_total Deltas received by this region, by outcome and reject reason.",
    "# TYPE mesh_deltas_ingested_total counter",
    'mesh_deltas_ingested_total{mesh_region="eu-1",mesh_delta_outcome="accepted"} 2',
    "# TYPE mesh_topic_subscribers gauge",
    'mesh_topic_subscribers{mesh_region="eu-1",mesh_topic_subject="a\\"b\\\\c\\nd"} 2',
    "# TYPE mesh_peer_phi gauge",
    'mesh_peer_phi{mesh_region="eu-1",mesh_peer="eu-2"} 0.5',
    "# TYPE mesh_antientropy_bytes_total counter",
    'mesh_antientropy_bytes_total{mesh_region="eu-1"} 1000',
    "# TYPE mesh_ingest_duration_seconds histogram",
    'mesh_ingest_duration_seconds_bucket{mesh_region="eu-1",le="0.001"} 0',
    'mesh_ingest_duration_seconds_bucket{mesh_region="eu-1",le="0.005"} 1',
    'mesh_ingest_duration_seconds_bucket{mesh_region="eu-1",le="5"} 1',
    'mesh_ingest_duration_seconds_bucket{mesh_region="eu-1",le="10"} 2',
    'mesh_ingest_duration_seconds_bucket{mesh_region="eu-1",le="+Inf"} 2',
    'mesh_ingest_duration_seconds_sum{mesh_region="eu-1"} 7.003',
    'mesh_ingest_duration_seconds_count{mesh_region="eu-1"} 2',
  ];
  const lines = text.split("\n");
  for (const line of expected) assert.ok(lines.includes(line), `${line}\nnot in\n${text}`);
  assert.ok(text.endsWith("\n"));
  assert.ok(!text.includes("mesh_view_read_duration"), "instruments with no data are left out");
  assert.equal(prometheusName("9.a-b:c"), "_9_a_b:c");
  assert.equal(prometheusName("a:b", true), "a_b");
});

Deno.test("metricsRoute(): only GET with the bearer token; the token is compared whole", async () => {
  assert.equal(bearerMatches("Bearer secret-token-123456", "secret-token-123456"), true);
  assert.equal(bearerMatches("bearer   secret-token-123456", "secret-token-123456"), true);
  for (
    const wrong of [undefined, "", "secret-token-123456", "Bearer secret-token-12345", "Basic x"]
  ) {
    assert.equal(bearerMatches(wrong, "secret-token-123456"), false, String(wrong));
  }
  const app = metricsRoute("secret-token-123456", () => Promise.resolve("x 1\n"));
  const ok = await app.request("/metrics", {
    headers: { authorization: "Bearer secret-token-123456" },
  });
  assert.equal(await ok.text(), "x 1\n");
});

Deno.test("instrumentStore() times every operation, counts and logs failures (throttled), passes the rest through", async () => {
  const lines: Record<string, unknown>[] = [];
  const previous = configureLog({ sink: (line) => lines.push(JSON.parse(line)) });
  try {
    const scrape = metricsScrape();
    const memory = new MemoryStore();
    const store = instrumentStore(memory, {
      region: "eu-1",
      telemetry: createTelemetry({ meters: [scrape.meter] }),
    });
    assert.equal(store.kind, "memory");
    assert.ok(store instanceof MemoryStore);
    await store.logHead();
    memory.failing = true;
    for (let i = 0; i < 3; i++) await assert.rejects(store.logHead());
    memory.failing = false;
    const text = await scrape.scrape();
    await scrape.close();
    assert.match(
      text,
      /mesh_store_duration_seconds_count\{mesh_region="eu-1",mesh_store_kind="memory",mesh_store_operation="logHead"\} 4/,
    );
    assert.match(
      text,
      /mesh_store_errors_total\{mesh_region="eu-1",mesh_store_kind="memory",mesh_store_operation="logHead",error_type="StoreUnavailableError"\} 3/,
    );
    assert.equal(lines.length, 1, "one line per operation per LOG_REPEAT_MS");
    assert.equal(lines[0].event, names.EVENT_STORE_ERROR);
    assert.equal(lines[0].operation, "logHead");
    assert.equal(lines[0].error_type, "StoreUnavailableError");
  } finally {
    configureLog(previous);
  }
});

Deno.test("LogThrottle passes one line per key per LOG_REPEAT_MS and counts what it held back", () => {
  const throttle = new LogThrottle();
  assert.equal(throttle.pass("a", 0), 0);
  assert.equal(throttle.pass("a", 1), null);
  assert.equal(throttle.pass("b", 1), 0);
  assert.equal(throttle.pass("a", 2), null);
  assert.equal(throttle.pass("a", LOG_REPEAT_MS), 2);
});

Deno.test("regionConfig(): MESH_LOG_LEVEL and MESH_METRICS_TOKEN; the start line names no secret", () => {
  assert.equal(regionConfig({}).MESH_LOG_LEVEL, "info");
  assert.equal(regionConfig({ MESH_LOG_LEVEL: "debug" }).MESH_LOG_LEVEL, "debug");
  assert.throws(
    () => regionConfig({ MESH_LOG_LEVEL: "loud" }),
    /Cannot start region as MESH_LOG_LEVEL is invalid/,
  );
  assert.throws(
    () => regionConfig({ MESH_METRICS_TOKEN: "short" }),
    /MESH_METRICS_TOKEN is invalid: must be at least 16 characters/,
  );
  const secrets = {
    MESH_METRICS_TOKEN: "metrics-secret-0123456789",
    MESH_REGION_KEY: "region-secret-key",
    UPSTASH_REDIS_REST_TOKEN: "upstash-secret-token",
  };
  const config = regionConfig({
    ...secrets,
    MESH_STORE: "upstash",
    UPSTASH_REDIS_REST_URL: "https://user:pass@db.upstash.example",
    MESH_TOPOLOGY: "mesh.json",
  });
  const summary = JSON.stringify(configSummary(config));
  for (const secret of [...Object.values(secrets), "pass"]) {
    assert.ok(!summary.includes(secret), `${secret} in ${summary}`);
  }
  const parsed = JSON.parse(summary);
  assert.equal(parsed.metrics, true);
  assert.equal(parsed.region_key, "env");
  assert.equal(parsed.upstash_url, "https://db.upstash.example");
});
