/**
 * Review (workerd liveness): the status stream's sampler (StatusFeed) runs on a chain of timers
 * set by the request that opened a stream, and shares its sample (`#sampling`); the coordination
 * count (CoordinationCounter) shares one count across requests (`#counting`). Interleaving: a
 * client of `GET /v1/status/stream` goes away while the sampler its request's timer ran is
 * counting the store index. If workerd then drops that request's outstanding I/O, the count never
 * settles, and every later `GET /v1/status` of the isolate whose figures are due waits on it for
 * ever (as does every later sample).
 *
 * Checked, not a defect on Miniflare: a client going away does not end the I/O its request's
 * timers started (the count completes), as for an aborted request. The only way a status stream
 * ends on workerd is its client going away, so this stays as a guard.
 */
import assert from "node:assert/strict";
import { withWorkerdModule, workerdAvailable } from "../support/edge_runtimes.ts";

Deno.test({
  name: "on workerd, GET /v1/status is not stuck behind a count a closed status stream started",
  ignore: !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withWorkerdModule(new URL("./_status_feed_worker.ts", import.meta.url), async (fetch) => {
      const stream = await fetch("http://w/stream");
      const reader = stream.body!.getReader();
      await reader.read(); // `retry:`; the sampler's first count (300 ms) is under way
      await new Promise((r) => setTimeout(r, 100));
      await reader.cancel(); // the client goes away
      await new Promise((r) => setTimeout(r, 50));
      const answer = await Promise.race([
        fetch("http://w/status").then((r) => r.json() as Promise<{ tookMs: number }>),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000)),
      ]);
      assert.ok(answer !== null, "the status read waited on the closed stream's count for ever");
      assert.ok(answer.tookMs < 2_000, `took ${answer.tookMs} ms`);
    });
  },
});
