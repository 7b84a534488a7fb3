/**
 * Review (workerd liveness): RegistryIndexer.catchUp queues a call that finds a run under way
 * behind it (`this.#running.catch().then(() => this.#start())`): the queued run starts in the
 * continuation of the first run, which the first request's I/O settles. Checked here: request A
 * catches up; request B, arriving meanwhile, waits for the queued run; A answers as soon as its
 * own run ends. B must still get its answer (the queued run's store reads must not be A's).
 */
import assert from "node:assert/strict";
import { withWorkerdModule, workerdAvailable } from "../support/edge_runtimes.ts";

type Took = { done: boolean; tookMs: number };

Deno.test({
  name: "on workerd, a registry catch-up queued behind another request's run is answered",
  ignore: !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withWorkerdModule(new URL("./_indexer_worker.ts", import.meta.url), async (fetch) => {
      const a = fetch("http://w/catch-up").then((r) => r.json() as Promise<Took>);
      await new Promise((r) => setTimeout(r, 100));
      const b = fetch("http://w/catch-up").then((r) => r.json() as Promise<Took>);
      assert.equal((await a).done, true);
      const answer = await Promise.race([
        b,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000)),
      ]);
      assert.ok(answer !== null, "the queued catch-up never ended");
      assert.equal(answer.done, true);
    });
  },
});
