/**
 * Review of the blob SDK's reads (src/client/blob_client.ts): `openBlob` checks a whole blob's
 * hash only when the stream ends, and `getBlob` gathers the stream into one array first. A lying
 * (or broken) region that answers 200 with an endless body — or any body past 16 MiB — made the
 * client buffer it all: memory without bound before the hash check could refuse it. Likewise a
 * 206 whose body runs past its `Content-Range`. The fix errors the stream as soon as more bytes
 * arrive than a blob (or the answered range) can hold.
 */
import assert from "node:assert/strict";
import { RegionHttp } from "../../src/client/_http.ts";
import { getBlob, openBlob } from "../../src/client/blob_client.ts";
import { BLOB_BYTES_MAX } from "../../src/protocol/blob_ref.ts";

const SHA = "ab".repeat(32);

/** A region that answers every read with `status`, `headers` and `pieces` pieces of 1 MiB. */
function lyingRegion(status: number, headers: Record<string, string>, pieces: number) {
  let sent = 0;
  const fetchFn = (() => {
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= pieces) return controller.close();
        sent++;
        controller.enqueue(new Uint8Array(1_048_576));
      },
    }, { highWaterMark: 0 });
    return Promise.resolve(new Response(body, { status, headers }));
  }) as typeof fetch;
  return { http: new RegionHttp("http://liar.test", fetchFn), sent: () => sent };
}

Deno.test("blob review: a whole-blob read stops once past 16 MiB instead of buffering without end", async () => {
  const liar = lyingRegion(200, {}, 64); // 64 MiB, no Content-Length
  await assert.rejects(() => getBlob(liar.http, SHA));
  assert.ok(
    liar.sent() <= BLOB_BYTES_MAX / 1_048_576 + 2,
    `the client read ${liar.sent()} MiB of a blob that holds at most 16`,
  );
});

Deno.test("blob review: a range read stops once past the range answered", async () => {
  const liar = lyingRegion(206, { "content-range": "bytes 0-9/100" }, 64);
  const opened = await openBlob(liar.http, SHA, { range: { start: 0, end: 9 } });
  await assert.rejects(() => new Response(opened.stream).arrayBuffer());
  assert.ok(liar.sent() <= 2, `the client read ${liar.sent()} MiB of a 10-byte range`);
});
