/**
 * Review of what an upload holds in memory (src/blobs/receive.ts, docs/protocol.md §25.3): the
 * chunk writer allocated its two batch buffers (2 × 12 × 60 KiB ≈ 1.4 MiB on Deno KV and the
 * memory store, 2 MiB on Upstash) when the upload began, before a byte of the body arrived. An
 * upload costs its sender one push token and the bytes it declares, so a client declaring
 * `Content-Length: 1` and never sending the byte held ~1.4 MiB for up to `BLOB_UPLOAD_MS_MAX`
 * (10 minutes) per request: the address push burst (2,000 requests) is ~2.9 GB of one instance's
 * memory from one client, for 2,000 bytes of budget. The buffers now grow with the bytes
 * received, so a stalled upload holds nothing and a slow one about what it sent.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { blobRegion, patternBytes, sha256Hex, signedPut } from "../blobs/_blobs.ts";

Deno.test("blob review: uploads whose bodies stall hold no batch buffers", async () => {
  const region = blobRegion();
  const key = AgentKey.generate();
  const uploads = 100;
  const controllers: ReadableStreamDefaultController<Uint8Array>[] = [];
  const answers: Promise<Response>[] = [];
  const before = Deno.memoryUsage();
  for (let i = 0; i < uploads; i++) {
    const bytes = patternBytes(16, i);
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => void controllers.push(controller), // never sends a byte
    });
    const request = await signedPut(key, bytes, { stream, sha: sha256Hex(bytes) });
    answers.push(Promise.resolve(region.app.request(request)));
  }
  // Let every upload reach the point where it waits for its first byte.
  for (let spin = 0; spin < 50; spin++) await new Promise((r) => setTimeout(r, 5));
  const during = Deno.memoryUsage();
  const held = (during.external + during.heapUsed) - (before.external + before.heapUsed);
  for (const controller of controllers) controller.error(new Error("gone"));
  for (const answer of answers) await (await answer).body?.cancel();
  assert.ok(
    held < 40 * 1_048_576,
    `${uploads} stalled uploads hold ${(held / 1_048_576).toFixed(0)} MiB ` +
      `(${(held / uploads / 1_024).toFixed(0)} KiB each) before any byte arrived`,
  );
});

Deno.test("blob review (guard): a slowly sent blob still stores whole and right", async () => {
  const region = blobRegion();
  const key = AgentKey.generate();
  const bytes = patternBytes(3 * 737_280 + 12_345, 9);
  let at = 0;
  const sizes = [1, 7, 60_000, 1_000_000, 3];
  let turn = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const n = sizes[turn++ % sizes.length];
      controller.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
  const put = await region.app.request(await signedPut(key, bytes, { stream }));
  assert.equal(put.status, 201, await put.clone().text());
  await put.body?.cancel();
  const read = await region.app.request(`/v1/blobs/${sha256Hex(bytes)}`);
  assert.deepEqual(new Uint8Array(await read.arrayBuffer()), bytes);
});
