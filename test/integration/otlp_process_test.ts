/**
 * OpenTelemetry export from real region processes: two regions (`main.ts`, each with its own Deno
 * KV, links through chaos proxies) run Deno's built-in OpenTelemetry (`OTEL_DENO=true`, OTLP/HTTP
 * with JSON bodies) against a receiver served in this test. An agent pushes one delta to eu-1
 * with a traceparent of its own: eu-1's push span and us-1's ingest of the relayed delta are in
 * that one trace; metrics of both regions arrive, and so do their JSON log lines as log records.
 */
import assert from "node:assert/strict";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { newTraceparent } from "../../src/client/trace_context.ts";
import { names } from "../../src/telemetry/mod.ts";
import { TestMesh } from "../support/mesh_processes.ts";
import { OtlpReceiver } from "../support/otlp_receiver.ts";
import { testAgent } from "../support/signing.ts";

const TWO = [
  { id: "eu-1", zone: "eu" },
  { id: "us-1", zone: "us" },
];

Deno.test({
  name: "OTLP from two region processes: spans, metrics and logs arrive, and one trace spans both",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const receiver = new OtlpReceiver();
    const mesh = await TestMesh.start({
      regions: TWO,
      env: (region) => ({
        OTEL_DENO: "true",
        OTEL_SERVICE_NAME: `mesh-${region}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: "200",
        OTEL_METRIC_EXPORT_INTERVAL: "500",
      }),
    });
    try {
      await mesh.untilEvery("leaders elected", (s) => s.leader?.self === true, 15_000);
      const client = new MeshClient(mesh.region("eu-1").url);
      const traceparent = newTraceparent();
      const traceId = traceparent.split("-")[1];
      const result = await testAgent(Date.now).push(client, "otel", [
        { op: "set", key: "k", value: 1 },
      ], { traceparent });
      assert.equal(result.status, "accepted");

      const inTrace = (service: string, name: string) =>
        receiver.spans.find((s) =>
          s.service === service && s.name === name && s.traceId === traceId
        );
      // Each process exports on its own schedule: wait for all three spans of the hop.
      await mesh.until(
        "eu-1's push and send, and us-1's ingest, in the agent's trace",
        () =>
          Promise.resolve(
            inTrace("mesh-eu-1", names.SPAN_PUSH) !== undefined &&
              inTrace("mesh-eu-1", names.SPAN_FANOUT_SEND) !== undefined &&
              inTrace("mesh-us-1", names.SPAN_PEER_DELTAS) !== undefined,
          ),
        20_000,
      );
      assert.equal(inTrace("mesh-eu-1", names.SPAN_PUSH)!.attributes[names.ATTR_PUSH_ACCEPTED], 1);
      const ingest = inTrace("mesh-us-1", names.SPAN_PEER_DELTAS)!;
      assert.equal(ingest.attributes[names.ATTR_PEER], "eu-1");

      const metric = (service: string, name: string) =>
        receiver.metrics.some((m) => m.service === service && m.name === name);
      await mesh.until("metrics of both regions exported", () =>
        Promise.resolve(
          metric("mesh-eu-1", names.METRIC_DELTAS_INGESTED) &&
            metric("mesh-eu-1", names.METRIC_INGEST_DURATION) &&
            metric("mesh-us-1", names.METRIC_PROPAGATION_LAG) &&
            metric("mesh-us-1", names.METRIC_PEER_PHI),
        ), 20_000);
      await mesh.until("the start log line exported as a log record", () =>
        Promise.resolve(
          receiver.logs.some((l) =>
            l.service === "mesh-eu-1" && l.body.includes(`"event":"${names.EVENT_REGION_STARTED}"`)
          ),
        ), 20_000);
      for (const [path, types] of receiver.contentTypes) {
        assert.deepEqual([...types], ["application/json"], `${path} is OTLP/JSON`);
      }
      assert.deepEqual(
        [...receiver.contentTypes.keys()].sort(),
        ["/v1/logs", "/v1/metrics", "/v1/traces"],
      );
    } finally {
      await mesh.stop();
      await receiver.close();
    }
  },
});
