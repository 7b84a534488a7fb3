/**
 * Review of `PUT /v1/blobs/{sha256}` step 5 (docs/protocol.md §25.3): a blob the region already
 * stores is answered 200 `exists` at once and its grace restarted with `touchBlob`. The route
 * ignored what `touchBlob` answered, so when the collector removed the blob between the route's
 * `getBlob` and its `touchBlob` (an unreferenced blob past its grace: exactly the one an author
 * uploads again to restart its grace, §25.6), the uploader was told `exists` while the region
 * held nothing; it then pushed its metadata for a blob no region has. A touch that finds no blob
 * now goes on to read the body and store it.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { blobRegion, patternBytes, signedPut } from "../blobs/_blobs.ts";
import { T0_MS } from "../support/signing.ts";

Deno.test("blob review: an upload that finds the blob removed under it stores it again", async () => {
  const store = new MemoryStore();
  const region = blobRegion({ store, graceMs: 60_000 });
  const key = AgentKey.generate();
  const bytes = patternBytes(100_000, 7);
  const first = await region.app.request(await signedPut(key, bytes));
  assert.equal(first.status, 201);
  await first.body?.cancel();

  // Past the grace, unreferenced: the collector removes it just after the route looked it up.
  region.nowMs = T0_MS + 120_000;
  const blobs = store.blobs;
  const getBlob = blobs.getBlob.bind(blobs);
  let raced = false;
  blobs.getBlob = async (sha256: string) => {
    const record = await getBlob(sha256);
    if (record !== null && !raced) {
      raced = true;
      assert.equal(await blobs.removeBlob(record), true);
    }
    return record;
  };
  const again = await region.app.request(
    await signedPut(key, bytes, { nowMs: region.nowMs }),
  );
  blobs.getBlob = getBlob;
  assert.ok(raced);
  const answer = await again.json();
  const read = await region.app.request(`/v1/blobs/${answer.sha256}`);
  assert.equal(
    read.status,
    200,
    `the upload was answered ${again.status} ${answer.status}, yet the region holds no blob`,
  );
  assert.deepEqual(new Uint8Array(await read.arrayBuffer()), bytes);
  assert.equal(again.status, 201);
});
