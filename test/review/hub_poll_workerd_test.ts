/**
 * Review (workerd liveness): TopicHub.poll shared one read of the region log per instance
 * (`this.#polling ??= this.#readLog()`), and the poll chain runs it in a timer of whichever
 * waiting request keeps the chain alive (src/views/poll_chain.ts). Interleaving: a long-poll
 * (`GET /v1/topics/...?wait=`) or an event stream is answered — its wait ran out, or a message
 * this instance stored woke it — while a poll its timer started is still reading the store.
 * workerd never completes the I/O of an answered request, so `#polling` never settles; the
 * chain a later waiter starts again (PollChain.keepAlive) steps into `poll()`, gets that same
 * promise and waits on it for ever, and so does every chain started after it.
 *
 * Impact: no subscriber of that isolate ever hears again of what other instances of the region
 * stored (agent publishes landing elsewhere, relays from other regions): live topic delivery stops
 * on that isolate for good.
 *
 * Expected: each poll reads the log on its own from the cursor as it stands (offers are idempotent:
 * a subscription's cursor delivers a message once), so a chain never waits on another request's
 * read.
 */
import assert from "node:assert/strict";
import { withWorkerdModule, workerdAvailable } from "../support/edge_runtimes.ts";

type Got = { got: string | null; tookMs: number };

Deno.test({
  name: "on workerd, the topic hub's poll is not stuck behind one a request that answered started",
  ignore: !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withWorkerdModule(new URL("./_hub_poll_worker.ts", import.meta.url), async (fetch) => {
      // A waits 120 ms: its chain's first poll (at 20 ms, 300 ms long) is under way when it answers.
      const a = await (await fetch("http://w/next?s=other.>&ms=120")).json() as Got;
      assert.equal(a.got, null);
      const b = fetch("http://w/next?s=jobs.>&ms=7000").then((r) => r.json() as Promise<Got>);
      await new Promise((r) => setTimeout(r, 500));
      await (await fetch("http://w/write?t=jobs.a")).text();
      const answer = await b;
      // B restarts the stalled chain after 2 s (20 ms × POLL_STALL_PERIODS², a step under way).
      assert.equal(answer.got, "m1", `B slept its whole wait (${answer.tookMs} ms)`);
    });
  },
});
