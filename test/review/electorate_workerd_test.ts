/**
 * Review (workerd liveness): Electorates.of caught the registry history and the activity index up
 * with Promise.all (and ProposalBook.report the ballot box, the electorate and the quarantine
 * alike). Each of those StoreFollowers shares one catch-up across the requests of the instance
 * (`while (this.#inflight) await this.#inflight`). Interleaving: a tally (`GET /v1/proposals/
 * {id}`) of a proposal weighted by activity; the activity channel's read fails (a transient
 * Upstash error) while the registry's is under way, Promise.all rejects and the request is
 * answered 503 with the registry's store read outstanding. workerd never completes the I/O of an
 * answered request: the registry history's shared catch-up never settles, and every later tally
 * of a proposal open by skill or tag on the isolate waits on it for ever.
 *
 * Expected: a request answers only once everything it started has settled (Promise.allSettled).
 */
import assert from "node:assert/strict";
import { withWorkerdModule, workerdAvailable } from "../support/edge_runtimes.ts";

Deno.test({
  name: "on workerd, a tally is not stuck behind a registry catch-up a failed request left",
  ignore: !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withWorkerdModule(new URL("./_electorate_worker.ts", import.meta.url), async (fetch) => {
      const first = await fetch("http://w/of");
      assert.equal(first.status, 503, "the first tally meets the store's failure");
      await first.body?.cancel();
      const answer = await Promise.race([
        fetch("http://w/of").then((r) => r.json() as Promise<{ total: number; tookMs: number }>),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000)),
      ]);
      assert.ok(answer !== null, "the tally waited on the failed request's catch-up for ever");
      assert.equal(answer.total, 0);
      assert.ok(answer.tookMs < 2_000, `took ${answer.tookMs} ms`);
    });
  },
});
