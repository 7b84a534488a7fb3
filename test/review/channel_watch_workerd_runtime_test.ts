/**
 * Review of 5ff2029, on workerd itself (Miniflare): ChannelWatch's log poll was one chain of
 * timers started by the first waiting request; workerd never fires a timer of a request that has
 * answered, so once that request ended no waiting read of the isolate was woken by another
 * instance's store again (it slept its whole wait). Request A waits 300 ms on a channel and
 * answers; request B then waits on "c" while another instance appends a log entry for "c".
 * Before the fix B slept its 4 s; now it is woken within POLL_STALL_PERIODS poll periods (src/views/poll_chain.ts).
 * (channel_watch_workerd_timer_test.ts simulates the same in Deno.)
 */
import assert from "node:assert/strict";
import { withWorkerdModule, workerdAvailable } from "../support/edge_runtimes.ts";

type Waited = { woken: boolean; tookMs: number };

Deno.test({
  name:
    "on workerd, a waiting read is woken by another instance's store after the request that started the poll ended",
  ignore: !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const worker = new URL("./_channel_watch_worker.ts", import.meta.url);
    await withWorkerdModule(worker, async (fetch) => {
      const a = await (await fetch("http://w/wait?c=elsewhere&ms=300")).json() as Waited;
      assert.equal(a.woken, false);
      const b = fetch("http://w/wait?c=c&ms=4000").then((r) => r.json() as Promise<Waited>);
      await new Promise((r) => setTimeout(r, 200));
      await (await fetch("http://w/write?c=c")).text();
      const answer = await b;
      assert.equal(answer.woken, true, `B slept its whole wait (${answer.tookMs} ms)`);
      assert.ok(answer.tookMs < 2_500, `woken after ${answer.tookMs} ms`);
    });
  },
});
