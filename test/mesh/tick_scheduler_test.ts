import assert from "node:assert/strict";
import { PUSH_JOBS, TickScheduler } from "../../src/mesh/tick_scheduler.ts";
import type { Logger } from "../../src/telemetry/log.ts";

/** A logger keeping the events it is given. */
function logger(events: string[] = []): Logger {
  const keep = (event: string) => void events.push(event);
  const self: Logger = {
    debug: keep,
    info: keep,
    warn: keep,
    error: keep,
    enabled: () => true,
    with: () => self,
  };
  return self;
}
const quiet = logger();

Deno.test("TickScheduler.tick() runs every job on a first round, in order, then only those due", async () => {
  let nowMs = 0;
  const order: string[] = [];
  const jobs = new TickScheduler({ now: () => nowMs, log: quiet });
  jobs.every("leader-lease", 1_000, () => Promise.resolve(void order.push("lease")));
  jobs.every("fan-out", 50, () => Promise.resolve(void order.push("fan-out")));
  jobs.every("anti-entropy", 60_000, () => Promise.resolve(void order.push("sync")));
  assert.deepEqual(jobs.jobs, ["leader-lease", "fan-out", "anti-entropy"]);
  const first = await jobs.tick();
  assert.deepEqual(order, ["lease", "fan-out", "sync"]);
  assert.deepEqual([first.ran, first.notDue], [["leader-lease", "fan-out", "anti-entropy"], []]);
  nowMs = 999;
  assert.deepEqual((await jobs.tick()).ran, ["fan-out"]);
  nowMs = 60_000;
  const later = await jobs.tick();
  assert.deepEqual([later.ran, later.notDue], [["leader-lease", "fan-out", "anti-entropy"], []]);
  assert.deepEqual(jobs.stats()["fan-out"], { runs: 3, skipped: 0, failures: 0, lastError: null });
});

Deno.test("TickScheduler.tick() of rounds at once runs each job once and the later round waits for it", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let runs = 0;
  const jobs = new TickScheduler({ now: () => 0, log: quiet });
  jobs.every("slow", 10, async () => {
    runs++;
    await held;
  });
  const a = jobs.tick();
  const b = jobs.tick();
  let bDone = false;
  void b.then(() => bDone = true);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(bDone, false, "the second round waits for the running job");
  release();
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(runs, 1);
  assert.deepEqual([ra.ran, rb.skipped], [["slow"], ["slow"]]);
  await jobs.idle();
});

Deno.test("TickScheduler.tick() reports a job that threw as failed and goes on with the round", async () => {
  const events: string[] = [];
  const jobs = new TickScheduler({ now: () => 0, log: logger(events) });
  jobs.every("boom", 10, () => Promise.reject(new Error("boom")));
  jobs.every("fine", 10, () => Promise.resolve());
  const report = await jobs.tick();
  assert.deepEqual([report.failed, report.ran], [["boom"], ["fine"]]);
  assert.equal(jobs.stats().boom.lastError, "boom");
  assert.deepEqual(events, ["mesh.job.failed"]);
});

Deno.test("TickScheduler.tick(only) runs the named jobs that are due, and a push's are lease, heartbeat, fan-out", async () => {
  const ran: string[] = [];
  const jobs = new TickScheduler({ now: () => 0, log: quiet });
  for (const name of ["leader-lease", "heartbeat", "fan-out", "anti-entropy", "registry"]) {
    jobs.every(name, 10, () => Promise.resolve(void ran.push(name)));
  }
  assert.deepEqual(PUSH_JOBS, ["leader-lease", "heartbeat", "fan-out"]);
  assert.deepEqual((await jobs.tick(PUSH_JOBS)).ran, ["leader-lease", "heartbeat", "fan-out"]);
  assert.deepEqual((await jobs.tick(["nothing"])).ran, []);
  await jobs.stop();
  assert.deepEqual((await jobs.tick()).ran, [], "a stopped scheduler starts nothing");
  assert.deepEqual(ran, ["leader-lease", "heartbeat", "fan-out"]);
});
