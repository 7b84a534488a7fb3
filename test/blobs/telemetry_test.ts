/**
 * Every span, metric and attribute the blobs emit — an upload, reads (local, pulled from a peer,
 * refused), a lying peer, a collection — is declared in docs/telemetry/registry.yaml.
 */
import assert from "node:assert/strict";
import * as names from "../../src/telemetry/names.ts";
import { blobRefKey, BLOBS_CHANNEL } from "../../src/protocol/blob_ref.ts";
import { collectTelemetry } from "../support/telemetry_registry.ts";
import { testAgent } from "../support/signing.ts";
import { blobRegion, patternBytes, sha256Hex, signedPut } from "./_blobs.ts";

Deno.test("the blobs emit only declared telemetry names", async () => {
  const emitted = await collectTelemetry(async () => {
    const far = blobRegion();
    const near = blobRegion({
      peers: () => [{ id: "far", url: "http://far.test" }],
      fetch: async (input, init) => await far.app.request(String(input), init),
      graceMs: 1_000,
    });
    const agent = testAgent(() => far.nowMs);
    const bytes = patternBytes(100_000, 1);
    const sha = sha256Hex(bytes);
    assert.equal((await far.app.request(await signedPut(agent.key, bytes))).status, 201);
    const ref = agent.sign(BLOBS_CHANNEL, [{
      op: "set",
      key: blobRefKey(agent.key.id, sha),
      value: { name: "n", type: "a/b", size: bytes.length },
    }]);
    await near.app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas: [ref] }),
    });
    const pulled = await near.app.request(`/v1/blobs/${sha}`);
    assert.equal(pulled.status, 200);
    await pulled.arrayBuffer();
    const missing = await near.app.request(`/v1/blobs/${"0".repeat(64)}`);
    await missing.body?.cancel();
    const mismatch = await far.app.request(
      await signedPut(agent.key, bytes, { sha: "1".repeat(64) }),
    );
    await mismatch.body?.cancel();
    far.nowMs += 10 * 3_600_000;
    await far.blobs.tick();
  });
  assert.deepEqual(emitted.undeclared, []);
  for (
    const name of [
      names.SPAN_BLOB_UPLOAD,
      names.SPAN_BLOB_READ,
      names.SPAN_BLOB_PULL,
      names.SPAN_BLOB_GC,
    ]
  ) {
    assert.ok(emitted.spans.has(name), name);
  }
  for (
    const name of [names.METRIC_BLOB_BYTES, names.METRIC_BLOB_PULLS, names.METRIC_BLOB_COLLECTED]
  ) {
    assert.ok(emitted.metrics.has(name), name);
  }
});
