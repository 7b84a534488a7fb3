/**
 * Review (workerd liveness): BlobReferences.has ran the `_blobs` view read and the follower's
 * catch-up with Promise.all. Both are shared with other requests of the instance: ChannelViews
 * runs one read of a channel at a time and queues later ones behind it (`#exclusive`), and the
 * StoreFollower shares one catch-up (`while (this.#inflight) await this.#inflight`). Interleaving:
 * a public read of a blob this region lacks (`GET /v1/blobs/{sha256}`, read_route.ts) asks `has`;
 * one of the two store reads fails (a transient Upstash error) while the other is under way, so
 * Promise.all rejects and the request is answered 503 — with the other's store read outstanding.
 * workerd never completes the I/O of an answered request: that read never settles, and every later
 * read of `_blobs` on the isolate (each public blob read, the collector's `referenced`, GET of the
 * channel's view) waits behind it for ever (or, the other way round, every later `has` waits on
 * the follower's catch-up).
 *
 * Expected: `has` answers only once both have settled (Promise.allSettled), so no request leaves
 * shared work behind it.
 */
import assert from "node:assert/strict";
import { withWorkerdModule, workerdAvailable } from "../support/edge_runtimes.ts";

Deno.test({
  name: "on workerd, a blob read is not stuck behind a `_blobs` view read a failed request left",
  ignore: !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withWorkerdModule(new URL("./_blob_refs_worker.ts", import.meta.url), async (fetch) => {
      const first = await fetch("http://w/has");
      assert.equal(first.status, 503, "the first read meets the store's failure");
      await first.body?.cancel();
      const answer = await Promise.race([
        fetch("http://w/has").then((r) => r.json() as Promise<{ has: boolean; tookMs: number }>),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000)),
      ]);
      assert.ok(answer !== null, "the read waited on the failed request's view read for ever");
      assert.equal(answer.has, false);
      assert.ok(answer.tookMs < 2_000, `took ${answer.tookMs} ms`);
    });
  },
});
