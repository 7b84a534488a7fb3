/**
 * `GET /metrics` and the structured logs of real region processes (`main.ts`): the route is off
 * (404) without MESH_METRICS_TOKEN and answers Prometheus text only to its bearer token; a region
 * logs its start (with its configuration, never a secret), the peer it loses and the minority it
 * falls into when the other region of a two-region mesh is killed, and its shutdown on SIGTERM;
 * requests are logged only at MESH_LOG_LEVEL=debug.
 */
import assert from "node:assert/strict";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { names } from "../../src/telemetry/mod.ts";
import { TestMesh } from "../support/mesh_processes.ts";
import { runDeno, startRegionProcess } from "../support/region_process.ts";
import { testAgent } from "../support/signing.ts";

const TOKEN = "metrics-test-token-0123456789";

/** The JSON lines of a process's output (the banner lines are not JSON). */
function logLines(output: string): Record<string, unknown>[] {
  return output.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

async function scrape(url: string, authorization?: string): Promise<Response> {
  return await fetch(`${url}/metrics`, {
    headers: authorization === undefined ? {} : { authorization },
  });
}

Deno.test({
  name: "GET /metrics: 404 when off; 401 problem+json without the token; Prometheus text with it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mesh-metrics-" });
    const off = await startRegionProcess({ MESH_DATA: `${dir}/off` });
    const on = await startRegionProcess({ MESH_DATA: `${dir}/on`, MESH_METRICS_TOKEN: TOKEN });
    try {
      const missing = await scrape(off.url, `Bearer ${TOKEN}`);
      assert.equal(missing.status, 404);
      assert.equal((await missing.json()).type, "urn:mesh:problem:not-found");

      const result = await testAgent(Date.now).push(new MeshClient(on.url), "c", [
        { op: "set", key: "k", value: 1 },
      ]);
      assert.equal(result.status, "accepted");
      for (const authorization of [undefined, "Bearer wrong-token-wrong-token", TOKEN]) {
        const refused = await scrape(on.url, authorization);
        assert.equal(refused.status, 401, String(authorization));
        assert.equal(refused.headers.get("content-type"), "application/problem+json");
        assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="metrics"');
        assert.equal((await refused.json()).type, "urn:mesh:problem:token-required");
      }
      const answer = await scrape(on.url, `Bearer ${TOKEN}`);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      const text = await answer.text();
      for (
        const line of [
          "# TYPE mesh_deltas_ingested_total counter",
          'mesh_deltas_ingested_total{mesh_region="local",mesh_store_kind="denokv",' +
          'mesh_delta_origin="agent",mesh_delta_outcome="accepted"} 1',
          "# TYPE mesh_ingest_duration_seconds histogram",
          'mesh_ingest_duration_seconds_count{mesh_region="local",mesh_store_kind="denokv"} 1',
          "# TYPE mesh_job_ticks_total counter",
        ]
      ) assert.ok(text.includes(line), `${line}\nnot in\n${text}`);
      assert.match(
        text,
        /mesh_store_duration_seconds_bucket\{mesh_region="local",mesh_store_kind="denokv",mesh_store_operation="putDeltas",le="\+Inf"\} \d+/,
      );
      const post = await fetch(`${on.url}/metrics`, { method: "POST" });
      assert.equal(post.status, 405);
      await post.body?.cancel();
    } finally {
      await off.stop();
      await on.stop();
    }
    assert.ok(!on.output().includes(TOKEN), "the token is never logged");
    const started = logLines(on.output()).find((l) => l.event === names.EVENT_REGION_STARTED)!;
    assert.equal(started.metrics, true);

    const weak = await runDeno("main.ts", [], { MESH_METRICS_TOKEN: "short" });
    assert.equal(weak.code, 2);
    assert.match(weak.stderr, /MESH_METRICS_TOKEN is invalid: must be at least 16 characters/);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "logs of a region process: start, peer down and minority when its peer dies, shutdown",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({
      regions: [{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }],
      env: (region): Record<string, string> => region === "eu-2" ? { MESH_LOG_LEVEL: "debug" } : {},
    });
    try {
      await mesh.untilEvery("leaders elected", (s) => s.leader?.self === true, 15_000);
      const eu1 = mesh.region("eu-1");
      const lines = () => logLines(eu1.process!.output());
      const started = lines().find((l) => l.event === names.EVENT_REGION_STARTED)!;
      assert.equal(started.level, "info");
      assert.equal(started.region, "eu-1");
      assert.equal(started.zone, "eu");
      assert.equal(started.regions, 2);
      assert.equal(started.region_key, "env");
      assert.ok(typeof started.ts === "string" && !Number.isNaN(Date.parse(started.ts)));
      assert.ok(!eu1.process!.output().includes(eu1.secret), "the region key is never logged");
      await mesh.until("eu-1 leads and sees eu-2 up", () =>
        Promise.resolve(
          lines().some((l) => l.event === names.EVENT_LEADER_GAINED) &&
            lines().some((l) => l.event === names.EVENT_PEER_UP && l.peer === "eu-2"),
        ), 10_000);
      // Requests are logged at debug only: eu-2 runs at debug, eu-1 at the default info.
      await (await fetch(`${mesh.region("eu-2").url}/v1/health`)).body?.cancel();
      await mesh.until("eu-2 logs the request", () =>
        Promise.resolve(
          logLines(mesh.region("eu-2").process!.output()).some((l) =>
            l.event === names.EVENT_HTTP_REQUEST && l.path === "/v1/health" && l.status === 200
          ),
        ), 5_000);
      assert.ok(!lines().some((l) => l.event === names.EVENT_HTTP_REQUEST));

      await mesh.stopRegion("eu-2", true);
      await mesh.until("eu-1 logs eu-2 down and its minority", () =>
        Promise.resolve(
          lines().some((l) => l.event === names.EVENT_PEER_DOWN && l.peer === "eu-2") &&
            lines().some((l) =>
              l.event === names.EVENT_PARTITION_CHANGED && l.state === "minority" &&
              l.previous === "majority"
            ),
        ), 10_000);
      const down = lines().find((l) => l.event === names.EVENT_PEER_DOWN)!;
      assert.equal(down.level, "warn");
      assert.equal(down.region, "eu-1");

      assert.equal(await eu1.process!.stop("SIGTERM"), 0);
      const stopped = logLines(eu1.process!.output()).find((l) =>
        l.event === names.EVENT_REGION_STOPPED
      );
      assert.equal(stopped?.signal, "SIGTERM");
      eu1.process = null;
    } finally {
      await mesh.stop();
    }
  },
});

Deno.test("a region process stops at once on SIGTERM while a long-poll waits: the read is answered, exit 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-stop-waiting-" });
  const region = await startRegionProcess({ MESH_DATA: `${dir}/region` });
  try {
    const tag = (await fetch(`${region.url}/v1/channels/quiet`)).headers.get("etag")!;
    const waiting = fetch(`${region.url}/v1/channels/quiet?wait=30`, {
      headers: { "if-none-match": tag },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Without ending the waiting reads, the server's shutdown waits for them: forced, exit 1.
    assert.equal(await region.stop("SIGTERM"), 0, "not a forced stop");
    const answer = await waiting;
    await answer.body?.cancel();
    assert.equal(answer.status, 304, "the waiting read was answered with what it held");
    const lines = logLines(region.output());
    assert.ok(!lines.some((l) => l.event === names.EVENT_REGION_STOP_FORCED));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
