/**
 * A child process for the KvQueueScheduler test: registers one 100 ms job on the shared KV file
 * given as the first argument, runs for the given milliseconds, prints how many times it ran.
 */
import { KvQueueScheduler } from "../../src/adapters/kv_queue_scheduler.ts";

const [path, ms] = Deno.args;
const kv = await Deno.openKv(path);
const scheduler = new KvQueueScheduler(kv);
let runs = 0;
scheduler.every("fan-out", 100, () => {
  runs++;
  return Promise.resolve();
});
await new Promise((r) => setTimeout(r, Number(ms)));
console.log(JSON.stringify({ runs }));
Deno.exit(0);
