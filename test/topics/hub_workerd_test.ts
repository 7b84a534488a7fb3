/**
 * The topic hub's log poll on workerd itself (Miniflare): workerd never fires a timer of a request
 * that has answered, so a poll chain started by one subscriber's request died with it, and a later
 * subscriber of the isolate never heard of what other instances stored (it slept its whole wait).
 * Subscriber A waits 300 ms and answers; subscriber B then waits while another instance stores a
 * message on its subject: B gets it (src/views/poll_chain.ts keeps the chain alive from B).
 */
import assert from "node:assert/strict";
import { withWorkerdModule, workerdAvailable } from "../support/edge_runtimes.ts";

type Got = { got: string | null; tookMs: number };

Deno.test({
  name:
    "on workerd, a subscriber hears of another instance's message after the request that started the poll ended",
  ignore: !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withWorkerdModule(new URL("./_hub_worker.ts", import.meta.url), async (fetch) => {
      const a = await (await fetch("http://w/next?s=other.>&ms=300")).json() as Got;
      assert.equal(a.got, null);
      const b = fetch("http://w/next?s=jobs.>&ms=4000").then((r) => r.json() as Promise<Got>);
      await new Promise((r) => setTimeout(r, 200));
      await (await fetch("http://w/write?t=jobs.a")).text();
      const answer = await b;
      assert.equal(answer.got, "m1", `B slept its whole wait (${answer.tookMs} ms)`);
    });
  },
});
