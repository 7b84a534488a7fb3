/**
 * Deno entrypoint of a region for Deno Deploy and `deno serve`: a Hono app as the default export,
 * configured from the environment (docs/operations.md) on Deno KV (Deno Deploy's own database
 * there) or Upstash. `deno task build` bundles it into dist/deno.js. In a topology the jobs run on
 * Deno KV queue messages re-seeded by Deno.cron, so they keep running between requests; with
 * MESH_JOBS_TOKEN, requests drive them instead: a Deno.cron round a minute, POST /v1/jobs/tick,
 * and the due lease, heartbeat and fan-out jobs of each push.
 */
import { regionConfig } from "../src/compose/config.ts";
import { configureLog, log } from "../src/telemetry/log.ts";
import { openRegion } from "../src/compose/open_region.ts";
import { denoEnv, denoHost } from "../src/adapters/deno.ts";
import { KvQueueScheduler } from "../src/adapters/kv_queue_scheduler.ts";
import { scheduleRegionJobs } from "../workers/region_jobs.ts";

const config = regionConfig(denoEnv());
configureLog({ level: config.MESH_LOG_LEVEL });
const region = await openRegion(config, denoHost);
// A standalone serverless region has no queue chain: pushes and requests index the registry
// themselves, and there is no blob collector (docs/operations.md).
if (config.MESH_JOBS_TOKEN !== undefined) {
  // Requests drive the jobs (POST /v1/jobs/tick, pushes), and Deno.cron is one of them.
  scheduleRegionJobs(region.jobs, region);
  Deno.cron("mesh-jobs", "* * * * *", async () => void await region.jobs.tick());
} else if (region.mesh !== null) {
  const scheduler = new KvQueueScheduler(await Deno.openKv(), {
    telemetry: region.telemetry,
    log: log.with({ region: config.MESH_REGION }),
  });
  scheduleRegionJobs(scheduler, region);
}

export default region.app;
