/**
 * Review of 5ff2029: ChannelWatch reads the region log (what other instances store) on one
 * self-rescheduling timer, shared by every waiting request of the instance and started by the
 * first of them. On workerd a timer belongs to the request that set it (and one set in its
 * callback, to that request again): once that request has answered, its timers never fire — tried
 * on Miniflare (npm:miniflare, compatibility date 2025-09-01): a chain of 50 ms timers started by a
 * request that answered at once had fired 0 times 1.2 s later, and its handle stayed set. Here
 * `#timer` then stays non-null for ever, `#schedule` does nothing for every later waiter, and no
 * waiting read of that isolate is ever woken by another instance's store again: each sleeps its
 * whole `wait` and is answered 304 / an empty page (docs/protocol.md §12.2 promises ~50 ms). On
 * workerd every isolate is an instance and relays from other regions land on any of them, so that
 * is most changes. Simulated here: the timers the first waiter's request sets never fire.
 */
import assert from "node:assert/strict";
import { ingest } from "../../src/region/ingest.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { ChannelWatch } from "../../src/views/channel_watch.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

/** Runs `work` as a request whose timers never fire (a workerd request that has answered). */
async function asEndedRequest<T>(work: () => Promise<T>): Promise<T> {
  const real = globalThis.setTimeout;
  // deno-lint-ignore no-explicit-any
  (globalThis as any).setTimeout = () => real(() => {}, 0); // a handle that never calls back
  try {
    return await work();
  } finally {
    globalThis.setTimeout = real;
  }
}

Deno.test("the log poll survives the end of the request that started it (workerd timers)", async () => {
  const dir = await Deno.makeTempDir();
  const here = await DenoKvStore.open(`${dir}/kv.sqlite3`);
  const there = await DenoKvStore.open(`${dir}/kv.sqlite3`);
  try {
    const watch = new ChannelWatch(here, 50);
    // Request A waits on another channel; its answer is long gone, its timers with it.
    const first = await asEndedRequest(() => watch.ticket("elsewhere"));
    first.cancel();
    // Request B waits on "c"; another instance of the region stores a delta there.
    const ticket = await watch.ticket("c");
    const started = performance.now();
    const woken = ticket.wait(4_000);
    await new Promise((r) => setTimeout(r, 100));
    const agent = testAgent();
    await ingest(
      [agent.sign("c", [{ op: "set", key: "x", value: 1 }])],
      there,
      verifyEd25519,
      T0_MS,
    );
    assert.equal(await woken, true, "never woken: the wait ran out");
    assert.ok(performance.now() - started < 2_500, `woken after ${performance.now() - started} ms`);
  } finally {
    here.close();
    there.close();
    await Deno.remove(dir, { recursive: true });
  }
});
