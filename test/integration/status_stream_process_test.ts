/**
 * A real region process with status streams open stops promptly on SIGTERM: main.ts ends the
 * streams before the server's shutdown, which would otherwise wait for them for ever.
 */
import assert from "node:assert/strict";
import { startRegionProcess } from "../support/region_process.ts";
import { sseEvents } from "../support/sse.ts";

/** Longest a region with open streams may take to exit after SIGTERM, in ms. */
const STOP_MS_MAX = 5_000;

Deno.test({
  name: "a region with status streams open exits 0 on SIGTERM, ending the streams",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mesh-status-" });
    const region = await startRegionProcess({ MESH_DATA: dir });
    try {
      const streams = await Promise.all(
        [1, 2].map(() => fetch(`${region.url}/v1/status/stream`)),
      );
      const readers = streams.map((s) => sseEvents(s));
      for (const events of readers) {
        assert.equal((await events.next()).value?.event, "snapshot");
      }
      const started = performance.now();
      const code = await Promise.race([
        region.stop("SIGTERM"),
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), STOP_MS_MAX)),
      ]);
      assert.equal(code, 0, `exit after SIGTERM (output: ${region.output()})`);
      assert.ok(performance.now() - started < STOP_MS_MAX);
      for (const events of readers) {
        // The stream ends (or the connection closes) rather than hanging.
        const end = await events.next().catch(() => ({ done: true }));
        assert.equal(end.done, true);
      }
    } finally {
      await region.stop("SIGKILL").catch(() => 0);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
