/**
 * Blobs across regions on the in-process mesh (real apps, real mesh nodes, memory stores, the
 * network simulated): a blob uploaded to one region is read from any other once its signed
 * metadata is there (pulled on demand, then served locally); a pull never recurses; a region
 * that sends other bytes under a name is refused and the next peer asked; an unreferenced blob
 * is not pulled.
 */
import assert from "node:assert/strict";
import { blobRefKey, BLOBS_CHANNEL } from "../../src/protocol/blob_ref.ts";
import type { MemoryStore } from "../../src/store/memory_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { testAgent } from "../support/signing.ts";
import { leftovers, patternBytes, sha256Hex, signedPut } from "./_blobs.ts";
import { readAll, writeUpload } from "../store/_blob_cases.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

/** A mesh with leaders, recording every blob request between regions as `from>to`. */
async function mesh() {
  const asked: string[] = [];
  const m = new InProcessMesh(LAYOUT, {
    intercept: (from, to, path, init) => {
      if (path.startsWith("/v1/blobs/")) asked.push(`${from}>${to}`);
      return init;
    },
  });
  for (let i = 0; i < 4; i++) await m.tick();
  return { m, asked };
}

/** Uploads `bytes` to region `id`; with `refer`, pushes its signed metadata there and lets it spread. */
async function upload(m: InProcessMesh, id: string, bytes: Uint8Array, refer = true) {
  const agent = testAgent(() => m.nowMs);
  const url = `http://${id}.mesh.test`;
  const put = await m.region(id).app.request(
    await signedPut(agent.key, bytes, { url, nowMs: m.nowMs }),
  );
  assert.equal(put.status, 201);
  const sha = sha256Hex(bytes);
  if (refer) {
    const ref = agent.sign(BLOBS_CHANNEL, [{
      op: "set",
      key: blobRefKey(agent.key.id, sha),
      value: { name: "b.bin", type: "application/octet-stream", size: bytes.length },
    }]);
    assert.equal((await m.push(id, [ref]))[0].status, "accepted");
    for (let i = 0; i < 3; i++) await m.tick();
  }
  return sha;
}

Deno.test("a blob uploaded to eu-1 is read from us-1 and eu-2: pulled once, then served locally", async () => {
  const { m, asked } = await mesh();
  const bytes = patternBytes(300_000, 4);
  const sha = await upload(m, "eu-1", bytes);
  const far = await m.region("us-1").app.request(`/v1/blobs/${sha}`);
  assert.equal(far.status, 200);
  assert.deepEqual(new Uint8Array(await far.arrayBuffer()), bytes);
  assert.notEqual(await m.region("us-1").store.blobs.getBlob(sha), null);
  const part = await m.region("eu-2").app.request(`/v1/blobs/${sha}`, {
    headers: { range: "bytes=100-199" },
  });
  assert.equal(part.status, 206);
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.slice(100, 200));
  const before = asked.length;
  const again = await m.region("us-1").app.request(`/v1/blobs/${sha}`);
  assert.deepEqual(new Uint8Array(await again.arrayBuffer()), bytes);
  assert.equal(asked.length, before, "a pulled blob is served from the region's own store");
});

Deno.test("a pull never recurses: the asked regions answer from their own stores only", async () => {
  const { m, asked } = await mesh();
  const bytes = patternBytes(5_000, 8);
  const sha = await upload(m, "us-1", bytes);
  asked.length = 0;
  const got = await m.region("eu-1").app.request(`/v1/blobs/${sha}`);
  assert.equal(got.status, 200);
  await got.body?.cancel();
  // eu-1 asks its zone first (eu-2, which lacks it and asks nobody), then us-1.
  assert.deepEqual(asked, ["eu-1>eu-2", "eu-1>us-1"]);
  asked.length = 0;
  const scoped = await m.region("eu-2").app.request(`/v1/blobs/${sha}`, {
    headers: { "mesh-blob-scope": "local" },
  });
  assert.equal(scoped.status, 404);
  await scoped.body?.cancel();
  assert.deepEqual(asked, []);
});

Deno.test("a region that sends other bytes under a name is refused, and the next peer is asked", async () => {
  const { m } = await mesh();
  const bytes = patternBytes(200_000, 12);
  const sha = await upload(m, "us-1", bytes);
  // eu-2 lies: it holds a record for the name whose chunks are other bytes.
  const liar = m.region("eu-2").store;
  const forged = await writeUpload(liar.blobs, patternBytes(200_000, 13), "forged", m.nowMs);
  assert.equal(await liar.blobs.commitBlob({ ...forged, sha256: sha }), "committed");
  const got = await m.region("eu-1").app.request(`/v1/blobs/${sha}`);
  assert.equal(got.status, 200);
  assert.deepEqual(new Uint8Array(await got.arrayBuffer()), bytes);
  const kept = (await m.region("eu-1").store.blobs.getBlob(sha))!;
  assert.deepEqual(await readAll(m.region("eu-1").store.blobs, kept), bytes);
  assert.deepEqual(await leftovers(m.region("eu-1").store), { uploads: 0, chunks: 4 });
});

Deno.test("when only a lying region has the name, the reader gets 404 and nothing is kept", async () => {
  const { m } = await mesh();
  const agent = testAgent(() => m.nowMs);
  const truth = patternBytes(70_000, 2);
  const sha = sha256Hex(truth);
  const ref = agent.sign(BLOBS_CHANNEL, [{
    op: "set",
    key: blobRefKey(agent.key.id, sha),
    value: { name: "x", type: "application/octet-stream", size: truth.length },
  }]);
  await m.push("eu-2", [ref]);
  for (let i = 0; i < 3; i++) await m.tick();
  const liar = m.region("eu-2").store;
  const forged = await writeUpload(liar.blobs, patternBytes(70_000, 3), "forged", m.nowMs);
  await liar.blobs.commitBlob({ ...forged, sha256: sha });
  const got = await m.region("eu-1").app.request(`/v1/blobs/${sha}`);
  assert.equal(got.status, 404);
  await got.body?.cancel();
  assert.equal(await m.region("eu-1").store.blobs.getBlob(sha), null);
  assert.deepEqual(await leftovers(m.region("eu-1").store as MemoryStore), {
    uploads: 0,
    chunks: 0,
  });
});

Deno.test("an unreferenced blob is served where it was uploaded and not pulled elsewhere", async () => {
  const { m, asked } = await mesh();
  const bytes = patternBytes(1_000, 6);
  const sha = await upload(m, "eu-1", bytes, false);
  const here = await m.region("eu-1").app.request(`/v1/blobs/${sha}`);
  assert.equal(here.status, 200);
  await here.body?.cancel();
  const there = await m.region("us-1").app.request(`/v1/blobs/${sha}`);
  assert.equal(there.status, 404);
  await there.body?.cancel();
  assert.deepEqual(asked, []);
});
