/**
 * The topic hub's log poll on workerd itself (Miniflare): workerd never fires a timer of a request
 * that has answered, so a poll chain started by one subscriber's request died with it, and a later
 * subscriber of the isolate never heard of what other instances stored (it slept its whole wait).
 * Subscriber A waits 300 ms and answers; subscriber B then waits while another instance stores a
 * message on its subject: B gets it (src/views/poll_chain.ts keeps the chain alive from B).
 */
import assert from "node:assert/strict";
import { workerdAvailable } from "../support/edge_runtimes.ts";

type Got = { got: string | null; tookMs: number };

Deno.test({
  name:
    "on workerd, a subscriber hears of another instance's message after the request that started the poll ended",
  ignore: !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mesh-hub-workerd-" });
    const { Miniflare } = await import("miniflare");
    try {
      const out = `${dir}/worker.js`;
      const entry = new URL("./_hub_worker.ts", import.meta.url).pathname;
      const built = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--quiet", "--platform=browser", "--format=esm", "-o", out, entry],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      const mf = new Miniflare({
        modules: true,
        script: await Deno.readTextFile(out),
        compatibilityDate: "2025-09-01",
      });
      try {
        const a = await (await mf.dispatchFetch("http://w/next?s=other.>&ms=300")).json() as Got;
        assert.equal(a.got, null);
        const b = mf.dispatchFetch("http://w/next?s=jobs.>&ms=4000").then((r) =>
          r.json() as Promise<Got>
        );
        await new Promise((r) => setTimeout(r, 200));
        await (await mf.dispatchFetch("http://w/write?t=jobs.a")).text();
        const answer = await b;
        assert.equal(answer.got, "m1", `B slept its whole wait (${answer.tookMs} ms)`);
      } finally {
        await mf.dispose();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
