/**
 * Bootstrap by bulk copy on the Upstash store over a real `redis-server` (both regions in one
 * database under their own prefixes): an empty region copies its peer page by page, a crash
 * mid-copy resumes from the cursor in the store, and the sets end equal.
 */
import assert from "node:assert/strict";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { readCopyState } from "../../src/mesh/bootstrap_state.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";
import { TwoRegions } from "./_two_regions.ts";

upstashTest(
  "Bootstrap copies a peer on the Upstash store and resumes after a crash",
  async (env) => {
    const store = (prefix: string) =>
      new UpstashStore({ url: env.rest.url, token: env.rest.token, prefix });
    const mesh = new TwoRegions(store("eu-1:"), store("eu-2:"), { mode: { from: "eu-1" } });
    try {
      for (let i = 0; i < 4; i++) await mesh.tick();
      await mesh.seed(2_300, 3);
      mesh.lie = (answer, page) => {
        if (page === 1) mesh.down = true; // the first page is stored, then the network fails
        return answer;
      };
      await mesh.fresh.bootstrap.tick();
      const saved = (await readCopyState(mesh.fresh.store)).state!;
      assert.equal(saved.status, "copying");
      assert.equal(saved.pages, 1);
      mesh.down = false;
      mesh.lie = null;
      mesh.fresh.bootstrap = mesh.newBootstrap(mesh.fresh); // a new process on the same store
      const resumedAt = mesh.asked.length;
      for (let i = 0; i < 10 && mesh.fresh.bootstrap.state?.status !== "done"; i++) {
        await mesh.fresh.bootstrap.tick();
      }
      assert.deepEqual(mesh.asked[resumedAt], saved.cursor);
      assert.equal(mesh.fresh.bootstrap.state?.status, "done");
      assert.equal(mesh.fresh.bootstrap.state?.stored, 2_300);
      assert.ok(await mesh.converged());
      assert.equal(await mesh.fresh.store.logHead(), 2_300);
    } finally {
      await mesh.peer.store.close();
      await mesh.fresh.store.close();
    }
  },
);
