/**
 * The blob routes through `app.request()` on a real region app (memory store): integrity,
 * ranges, ETag and 304, and every refused upload leaving nothing behind — a hash mismatch, too
 * many bytes, an empty or interrupted body, a bad or missing signature, a spent budget — and
 * concurrent uploads of one blob ending with one blob.
 */
import assert from "node:assert/strict";
import { BLOB_BYTES_MAX } from "../../src/protocol/blob_ref.ts";
import type { MemoryStore } from "../../src/store/memory_store.ts";
import { testAgent } from "../support/signing.ts";
import { blobRegion, leftovers, patternBytes, sha256Hex, signedPut, streamOf } from "./_blobs.ts";

const BYTES = patternBytes(200_000, 11);
const SHA = sha256Hex(BYTES);

async function stored() {
  const region = blobRegion();
  const put = await region.app.request(await signedPut(testAgent().key, BYTES));
  assert.equal(put.status, 201);
  assert.deepEqual(await put.json(), { sha256: SHA, size: BYTES.length, status: "stored" });
  return region;
}

Deno.test("PUT /v1/blobs/{sha} stores the bytes; GET answers them whole with a strong ETag", async () => {
  const region = await stored();
  const got = await region.app.request(`/v1/blobs/${SHA}`);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get("etag"), `"${SHA}"`);
  assert.equal(got.headers.get("content-length"), String(BYTES.length));
  assert.equal(got.headers.get("accept-ranges"), "bytes");
  assert.equal(got.headers.get("content-type"), "application/octet-stream");
  assert.equal(got.headers.get("x-content-type-options"), "nosniff");
  assert.match(got.headers.get("cache-control")!, /immutable/);
  assert.deepEqual(new Uint8Array(await got.arrayBuffer()), BYTES);
  const head = await region.app.request(`/v1/blobs/${SHA}`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(BYTES.length));
  assert.equal((await head.arrayBuffer()).byteLength, 0);
});

Deno.test("PUT of a blob already stored answers 200 exists and starts its grace again", async () => {
  const region = await stored();
  region.nowMs += 60_000;
  const again = await region.app.request(
    await signedPut(testAgent().key, BYTES, { nowMs: region.nowMs }),
  );
  assert.equal(again.status, 200);
  assert.deepEqual(await again.json(), { sha256: SHA, size: BYTES.length, status: "exists" });
  assert.equal((await region.store.blobs.getBlob(SHA))!.storedAtMs, region.nowMs);
});

Deno.test("GET with Range answers 206 single ranges, 416 for unsatisfiable ones, 200 for what it ignores", async () => {
  const region = await stored();
  const get = (headers: Record<string, string>) =>
    region.app.request(`/v1/blobs/${SHA}`, { headers });
  const part = async (range: string, start: number, end: number) => {
    const r = await get({ range });
    assert.equal(r.status, 206, range);
    assert.equal(r.headers.get("content-range"), `bytes ${start}-${end}/${BYTES.length}`);
    assert.equal(r.headers.get("content-length"), String(end - start + 1));
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), BYTES.slice(start, end + 1));
  };
  await part("bytes=0-9", 0, 9);
  await part("bytes=61430-61450", 61_430, 61_450); // across a chunk boundary
  await part("bytes=199990-", 199_990, 199_999);
  await part("bytes=-5", 199_995, 199_999);
  await part("bytes=-999999", 0, 199_999);
  await part("bytes=150000-999999", 150_000, 199_999);
  await part("bytes=122880-122880", 122_880, 122_880);
  for (const range of ["bytes=200000-", "bytes=5-1", "bytes=-0", "bytes=abc", "bytes=1-2-3", "x"]) {
    const r = await get({ range });
    assert.equal(r.status, 416, range);
    assert.equal(r.headers.get("content-range"), `bytes */${BYTES.length}`);
    assert.equal(r.headers.get("content-type"), "application/problem+json");
    assert.equal((await r.json()).type, "urn:mesh:problem:range-not-satisfiable");
  }
  for (
    const headers of [
      { range: "bytes=0-1,5-6" } as Record<string, string>,
      { range: "items=0-1" },
      { range: "bytes=0-1", "if-range": '"0000"' },
    ]
  ) {
    const r = await get(headers);
    assert.equal(r.status, 200, JSON.stringify(headers));
    assert.equal((await r.arrayBuffer()).byteLength, BYTES.length);
  }
  await part("bytes=0-9", 0, 9);
  const matching = await get({ range: "bytes=0-9", "if-range": `"${SHA}"` });
  assert.equal(matching.status, 206);
  await matching.body?.cancel();
});

Deno.test("GET with If-None-Match naming the hash answers 304 without a body", async () => {
  const region = await stored();
  for (const tag of [`"${SHA}"`, `W/"${SHA}"`, "*", `"other", "${SHA}"`]) {
    const r = await region.app.request(`/v1/blobs/${SHA}`, { headers: { "if-none-match": tag } });
    assert.equal(r.status, 304, tag);
    assert.equal(r.headers.get("etag"), `"${SHA}"`);
    assert.equal(r.body, null);
  }
  const other = await region.app.request(`/v1/blobs/${SHA}`, {
    headers: { "if-none-match": '"other"' },
  });
  assert.equal(other.status, 200);
  await other.body?.cancel();
});

Deno.test("PUT whose body hashes to another name answers 422 and stores nothing", async () => {
  const region = blobRegion();
  const other = patternBytes(1_000, 5);
  const r = await region.app.request(
    await signedPut(testAgent().key, BYTES, { sha: sha256Hex(other) }),
  );
  assert.equal(r.status, 422);
  const problem = await r.json();
  assert.equal(problem.type, "urn:mesh:problem:blob-mismatch");
  assert.match(problem.detail, new RegExp(`has SHA-256 ${SHA}`));
  assert.equal(await region.store.blobs.getBlob(sha256Hex(other)), null);
  assert.deepEqual(await leftovers(region.store as MemoryStore), { uploads: 0, chunks: 0 });
});

Deno.test("PUT over 16 MiB answers 413 — declared before reading, or streamed past the limit — and stores nothing", async () => {
  const region = blobRegion();
  const key = testAgent().key;
  const declared = await region.app.request(`/v1/blobs/${SHA}`, {
    method: "PUT",
    headers: { "content-length": String(BLOB_BYTES_MAX + 1) },
    body: "x",
  });
  assert.equal(declared.status, 413);
  const big = patternBytes(BLOB_BYTES_MAX + 1, 3);
  const streamed = await region.app.request(
    await signedPut(key, big, { stream: streamOf(big, 1 << 20) }),
  );
  assert.equal(streamed.status, 413);
  assert.equal((await streamed.json()).type, "urn:mesh:problem:payload-too-large");
  assert.equal(await region.store.blobs.getBlob(sha256Hex(big)), null);
  assert.deepEqual(await leftovers(region.store as MemoryStore), { uploads: 0, chunks: 0 });
});

Deno.test("PUT with an empty body answers 400, and an interrupted body 400 with nothing visible", async () => {
  const region = blobRegion();
  const key = testAgent().key;
  const empty = await region.app.request(
    await signedPut(key, new Uint8Array(0), { stream: streamOf(new Uint8Array(0)) }),
  );
  assert.equal(empty.status, 400);
  let sent = 0;
  const broken = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= 700_000) return controller.error(new Error("connection reset by peer"));
      controller.enqueue(BYTES.slice(0, 100_000));
      sent += 100_000;
    },
  });
  const cut = await region.app.request(await signedPut(key, BYTES, { stream: broken }));
  assert.equal(cut.status, 400);
  assert.match((await cut.json()).detail, /could not be read to its end/);
  assert.equal(await region.store.blobs.getBlob(SHA), null);
  assert.deepEqual(await leftovers(region.store as MemoryStore), { uploads: 0, chunks: 0 });
});

Deno.test("PUT needs the uploader's signature over the hash: unsigned or with another digest, 401", async () => {
  const region = blobRegion();
  const unsigned = await region.app.request(`/v1/blobs/${SHA}`, { method: "PUT", body: BYTES });
  assert.equal(unsigned.status, 401);
  assert.ok(unsigned.headers.get("www-authenticate")?.includes("missing"));
  const otherDigest = await region.app.request(
    await signedPut(testAgent().key, BYTES, { digestOf: sha256Hex(new Uint8Array([1])) }),
  );
  assert.equal(otherDigest.status, 401);
  assert.match((await otherDigest.json()).detail, /Content-Digest does not match/);
  const replayed = await signedPut(testAgent().key, BYTES);
  assert.equal((await region.app.request(replayed.clone())).status, 201);
  assert.equal((await region.app.request(replayed)).status, 401); // its nonce is spent
  assert.deepEqual(await leftovers(region.store as MemoryStore), { uploads: 0, chunks: 4 });
});

Deno.test("blob routes refuse a malformed hash (400), other methods (405) and an unknown scope (400)", async () => {
  const region = blobRegion();
  for (const bad of [SHA.toUpperCase(), SHA.slice(1), `${SHA}0`, "x"]) {
    for (const method of ["GET", "PUT"]) {
      const r = await region.app.request(`/v1/blobs/${bad}`, {
        method,
        body: method === "PUT" ? "x" : undefined,
      });
      assert.equal(r.status, 400, `${method} ${bad}`);
      await r.body?.cancel();
    }
  }
  for (const method of ["POST", "DELETE"]) {
    const r = await region.app.request(`/v1/blobs/${SHA}`, { method });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get("allow"), "GET, HEAD, PUT");
    await r.body?.cancel();
  }
  const scoped = await region.app.request(`/v1/blobs/${SHA}`, {
    headers: { "mesh-blob-scope": "everywhere" },
  });
  assert.equal(scoped.status, 400);
  const missing = await region.app.request(`/v1/blobs/${SHA}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("cache-control"), "no-store");
  await missing.body?.cancel();
});

Deno.test("concurrent uploads of one blob by several agents all succeed and leave one blob, no garbage", async () => {
  const region = blobRegion();
  const puts = await Promise.all(
    Array.from(
      { length: 6 },
      async () =>
        region.app.request(
          await signedPut(testAgent().key, BYTES, { stream: streamOf(BYTES, 7_000) }),
        ),
    ),
  );
  const statuses = await Promise.all(puts.map(async (r) => [r.status, (await r.json()).status]));
  assert.ok(statuses.every(([s]) => s === 200 || s === 201), JSON.stringify(statuses));
  assert.ok(statuses.some(([s, status]) => s === 201 && status === "stored"));
  const listed = await region.store.blobs.listBlobs(null, 10);
  assert.deepEqual(listed.items.map((r) => r.sha256), [SHA]);
  assert.deepEqual(await leftovers(region.store as MemoryStore), {
    uploads: 0,
    chunks: Math.ceil(BYTES.length / region.store.blobs.chunkBytes),
  });
  const got = await region.app.request(`/v1/blobs/${SHA}`);
  assert.deepEqual(new Uint8Array(await got.arrayBuffer()), BYTES);
});

Deno.test("uploads are charged by size to the author's byte budget: over it, 429 and nothing stored", async () => {
  const region = blobRegion({
    budgets: { authorBurstBytes: BLOB_BYTES_MAX, authorBytesPerS: 1_000 },
  });
  const key = testAgent().key;
  const ten = patternBytes(10 << 20, 21);
  assert.equal((await region.app.request(await signedPut(key, ten))).status, 201);
  const more = patternBytes(10 << 20, 22);
  const refused = await region.app.request(await signedPut(key, more));
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) > 1_000);
  assert.equal(await region.store.blobs.getBlob(sha256Hex(more)), null);
  // Streamed without a length, it is charged as it comes and cut off where the budget ends.
  const streamed = await region.app.request(await signedPut(key, more, { stream: streamOf(more) }));
  assert.equal(streamed.status, 429);
  assert.deepEqual(await leftovers(region.store as MemoryStore), { uploads: 0, chunks: 171 });
  // Another author from the same address still has its own budget.
  assert.equal((await region.app.request(await signedPut(testAgent().key, more))).status, 201);
});
