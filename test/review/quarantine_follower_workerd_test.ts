/**
 * Review of 0ab0560 (Quarantine.catchUpTo / StoreFollower.refreshAt) and 55b6057 (the watch's
 * poll catches the quarantine up), on workerd itself (Miniflare).
 *
 * Attack: none needed — ordinary traffic. The watch's poll runs in a timer of whichever waiting
 * request keeps it alive (poll_chain.ts) and catches the quarantine up there; the catch-up's store
 * reads are that request's I/O. When that request answers meanwhile (a wake-up), workerd never
 * completes its outstanding I/O (timers of an answered request never fire — the finding behind
 * poll_chain.ts — and fetches are cancelled alike). StoreFollower shares one catch-up per list
 * across requests (`while (this.#inflight !== null) await this.#inflight`), so every later call
 * waits on a promise that never settles.
 *
 * Impact: after one such interleaving, every view read of the isolate whose equivocation mark
 * moved (and every ingest's quarantine refresh) hangs until workerd kills the request — the
 * region's views stop on that isolate for good.
 *
 * Expected: a request never waits on I/O another request started (catch up per request, or
 * bound the wait on a shared catch-up and start one of its own).
 */
import assert from "node:assert/strict";
import { withWorkerdModule, workerdAvailable } from "../support/edge_runtimes.ts";

Deno.test({
  name: "on workerd, a quarantine catch-up is not stuck behind one a request that answered started",
  // Was a defect; fixed: the quarantine's followers run each call's catch-up on its own
  // (StoreFollower `independent`: noting an author is idempotent and order-free). Fails on the
  // shared run (5 s timeout; the read never answers).
  ignore: !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const worker = new URL("./_follower_worker.ts", import.meta.url);
    await withWorkerdModule(worker, async (fetch) => {
      assert.equal(await (await fetch("http://w/start")).text(), "started");
      const answer = await Promise.race([
        fetch("http://w/read").then((r) => r.json() as Promise<{ tookMs: number }>),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000)),
      ]);
      assert.ok(answer !== null, "the read waited on the answered request's catch-up for ever");
      assert.ok(answer.tookMs < 2_000, `took ${answer.tookMs} ms`);
    });
  },
});
