/**
 * The SDK's blob calls against a real region app (requests routed in memory): `putBlob` signs the
 * upload and pushes the signed `_blobs` reference; `getBlob`/`openBlob` read whole blobs (checked
 * against the name: a region that alters a byte is caught) and ranges.
 */
import assert from "node:assert/strict";
import { InvalidDeltaError } from "../../src/client/agent.ts";
import { BlobVerificationError } from "../../src/client/blob_client.ts";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { blobRefKey, BLOBS_CHANNEL } from "../../src/protocol/blob_ref.ts";
import { testAgent } from "../support/signing.ts";
import { blobRegion, patternBytes, sha256Hex, streamOf } from "../blobs/_blobs.ts";

function client(tamper?: (bytes: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>) {
  const region = blobRegion();
  const fetchFn = async (input: string | URL | Request, init?: RequestInit) => {
    const response = await region.app.request(
      input instanceof Request ? input : String(input),
      init,
    );
    const method = input instanceof Request ? input.method : init?.method ?? "GET";
    if (tamper === undefined || method !== "GET" || !response.ok) return response;
    const bytes = tamper(new Uint8Array(await response.arrayBuffer()));
    return new Response(bytes, { status: response.status, headers: response.headers });
  };
  return { region, client: new MeshClient("http://blob.test", { fetch: fetchFn as typeof fetch }) };
}

Deno.test("MeshClient.putBlob() uploads signed bytes and pushes the signed reference", async () => {
  const { region, client: c } = client();
  const agent = testAgent(() => region.nowMs);
  const bytes = patternBytes(250_000, 31);
  const signing = { nowMs: region.nowMs };
  const put = await c.putBlob(agent, bytes, { name: "data.bin", tags: ["x"] }, signing);
  assert.equal(put.status, "stored");
  assert.equal(put.sha256, sha256Hex(bytes));
  assert.equal(put.ref.status, "accepted");
  const view = await c.view(BLOBS_CHANNEL);
  assert.deepEqual(view.map[blobRefKey(agent.key.id, put.sha256)], {
    name: "data.bin",
    type: "application/octet-stream",
    size: bytes.length,
    tags: ["x"],
  });
  const again = await c.putBlob(agent, bytes, { name: "data.bin" }, signing);
  assert.equal(again.status, "exists");
  assert.deepEqual(await c.getBlob(put.sha256), bytes);
  assert.deepEqual(
    await c.getBlob(put.sha256, { range: { start: 1_000, end: 1_009 } }),
    bytes.slice(1_000, 1_010),
  );
  assert.deepEqual(
    await c.getBlob(put.sha256, { range: { start: 249_990 } }),
    bytes.slice(249_990),
  );
});

Deno.test("MeshClient.putBlob() takes a stream it hashes first, then sends chunked", async () => {
  const { region, client: c } = client();
  const bytes = patternBytes(130_000, 32);
  const put = await c.putBlob(
    testAgent(() => region.nowMs),
    { stream: () => streamOf(bytes) },
    { name: "s", type: "text/plain" },
    { nowMs: region.nowMs },
  );
  assert.equal(put.status, "stored");
  assert.equal(put.size, bytes.length);
  const opened = await c.openBlob(put.sha256);
  assert.equal(opened.verified, true);
  assert.equal(opened.size, bytes.length);
  assert.deepEqual(new Uint8Array(await new Response(opened.stream).arrayBuffer()), bytes);
});

Deno.test("MeshClient.putBlob() refuses bad metadata before sending anything", async () => {
  const { region, client: c } = client();
  const bytes = patternBytes(10, 1);
  await assert.rejects(
    c.putBlob(testAgent(() => region.nowMs), bytes, { name: "", type: "nope" }),
    (e) => e instanceof InvalidDeltaError && e.reason === "bad_blob_ref",
  );
  assert.equal(await region.store.blobs.getBlob(sha256Hex(bytes)), null);
});

Deno.test("MeshClient.getBlob() refuses a whole blob whose bytes were altered on the way", async () => {
  const { region, client: c } = client((bytes) => {
    const altered = bytes.slice();
    altered[7] ^= 1;
    return altered;
  });
  const bytes = patternBytes(5_000, 33);
  const put = await c.putBlob(testAgent(() => region.nowMs), bytes, { name: "n" }, {
    nowMs: region.nowMs,
  });
  await assert.rejects(
    c.getBlob(put.sha256),
    (e) => e instanceof BlobVerificationError && e.sha256 === put.sha256,
  );
});
