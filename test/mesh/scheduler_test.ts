import assert from "node:assert/strict";
import { TimerScheduler } from "../../src/mesh/scheduler.ts";

Deno.test("TimerScheduler runs a job on its interval, never overlapping itself, and counts failures", async () => {
  const scheduler = new TimerScheduler();
  let running = 0, overlaps = 0, runs = 0;
  scheduler.every("slow", 10, async () => {
    if (running++ > 0) overlaps++;
    runs++;
    await new Promise((r) => setTimeout(r, 25));
    running--;
    if (runs === 2) throw new Error("boom");
  });
  await new Promise((r) => setTimeout(r, 200));
  await scheduler.stop();
  assert.equal(overlaps, 0);
  assert.ok(runs >= 4, `ran ${runs} times`);
  const stats = scheduler.stats().slow;
  assert.equal(stats.failures, 1);
  assert.equal(stats.lastError, "boom");
});

Deno.test({
  name: "KvQueueScheduler keeps one chain per job however many isolates start on one database",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mesh-sched-" });
    try {
      const path = `${dir}/queue.kv`;
      const child = new URL("../support/scheduler_child.ts", import.meta.url).pathname;
      const run = () =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", child, path, "3000"],
          stderr: "inherit",
        })
          .output();
      // Three isolates start one after another while the others still run.
      const outputs = await Promise.all([0, 500, 1000].map(async (delay) => {
        await new Promise((r) => setTimeout(r, delay));
        return await run();
      }));
      const runs = outputs.map((o) =>
        JSON.parse(new TextDecoder().decode(o.stdout).trim()).runs as number
      );
      const total = runs.reduce((a, b) => a + b, 0);
      // One chain at 100 ms over ~4 s of overlapping lifetimes is at most ~40 runs in all;
      // every extra chain would add ~10 runs a second.
      assert.ok(total <= 50, `runs per isolate ${runs.join(", ")}: chains multiplied`);
      assert.ok(total >= 10, `runs per isolate ${runs.join(", ")}: the job hardly ran`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
