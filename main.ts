/**
 * `deno task start`: one region on the embedded Deno KV store (or Upstash with MESH_STORE=upstash),
 * listening on HOST:PORT (default 127.0.0.1:8000).
 */
import { configSummary, regionConfig } from "./src/compose/config.ts";
import { openRegion } from "./src/compose/open_region.ts";
import { TimerScheduler } from "./src/mesh/scheduler.ts";
import { type RegionStore, StoreUnavailableError } from "./src/store/region_store.ts";
import { denoEnv, denoHost } from "./src/adapters/deno.ts";
import { configureLog, log as rootLog } from "./src/telemetry/log.ts";
import { names } from "./src/telemetry/mod.ts";
import { channelWatchOf } from "./src/views/channel_watch.ts";
import { scheduleRegionJobs } from "./workers/region_jobs.ts";

let config;
try {
  config = regionConfig(denoEnv());
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(2);
}
configureLog({ level: config.MESH_LOG_LEVEL });
const log = rootLog.with({ region: config.MESH_REGION });
let region;
try {
  region = await openRegion(config, denoHost);
} catch (error) {
  if (!(error instanceof TypeError)) throw error;
  console.error(error.message);
  Deno.exit(2);
}
// A store that does not answer at start is more often a mistake in its settings than an outage:
// after STORE_START_WAIT_MS of asking (a slow first answer, a blip at boot), say so once and exit
// 1, instead of a region that listens and fails every request and job.
const STORE_START_WAIT_MS = 10_000;
const unanswered = await storeUnanswered(region.store, STORE_START_WAIT_MS);
if (unanswered !== null) {
  console.error(
    `Cannot start region "${config.MESH_REGION}" as its ${region.store.kind} store did not ` +
      `answer for ${STORE_START_WAIT_MS / 1000} s: ${unanswered.message}` +
      (region.store.kind === "upstash"
        ? " (is it up? check UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN)"
        : ""),
  );
  await region.close();
  Deno.exit(1);
}

/** Pings the store once a second until it answers (null) or `waitMs` passed (the last error). */
async function storeUnanswered(
  store: RegionStore,
  waitMs: number,
): Promise<StoreUnavailableError | null> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    try {
      await store.ping();
      return null;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (performance.now() >= deadline) return error;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
let server: Deno.HttpServer;
try {
  server = Deno.serve({
    hostname: config.HOST,
    port: config.PORT,
    onListen({ hostname, port }) {
      const url = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
      const mesh = region.mesh === null
        ? "standalone"
        : `zone ${region.mesh.self.zone} of ${region.mesh.topology.regions.length} regions`;
      console.log(
        `mesh region "${config.MESH_REGION}" (${region.store.kind}, ${mesh}) listening on ${url}`,
      );
      console.log(
        `try: curl ${url}/v1/health   ·   deno task agent keygen && deno task agent push demo set greeting '"hello"' --url ${url}`,
      );
      log.info(names.EVENT_REGION_STARTED, {
        ...configSummary(config),
        url,
        store: region.store.kind,
        zone: region.mesh?.self.zone ?? null,
        regions: region.mesh?.topology.regions.length ?? 1,
        otel: Deno.env.get("OTEL_DENO") === "true",
      });
    },
  }, region.app.fetch);
} catch (error) {
  if (!(error instanceof Deno.errors.AddrInUse)) throw error;
  console.error(
    `Cannot start region "${config.MESH_REGION}" as ${config.HOST}:${config.PORT} is already in ` +
      "use: stop what listens there (another `deno task start`?) or choose another PORT (or HOST).",
  );
  await region.close();
  Deno.exit(2);
}
// A long-lived process runs the jobs on timers (Deno Deploy uses KvQueueScheduler); with
// MESH_JOBS_TOKEN, requests drive them instead (POST /v1/jobs/tick and pushes), as on a host
// whose only clock is a cron trigger.
const scheduler = config.MESH_JOBS_TOKEN === undefined
  ? new TimerScheduler({ telemetry: region.telemetry, log })
  : region.jobs;
scheduleRegionJobs(scheduler, region);

/** Longest a shutdown may take before the process exits anyway (a job or request that hangs). */
const SHUTDOWN_GRACE_MS = 10_000;
let stage: string | null = null;
const forced = () => {
  log.error(names.EVENT_REGION_STOP_FORCED, { stage, grace_ms: SHUTDOWN_GRACE_MS });
  Deno.exit(1);
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    // Once: `deno task` hands its child the signal the terminal sent the whole group, so the
    // same Ctrl-C arrives twice; the grace period bounds a shutdown that hangs.
    if (stage !== null) return;
    stage = "jobs";
    log.info(names.EVENT_REGION_STOPPED, { signal });
    setTimeout(forced, SHUTDOWN_GRACE_MS);
    await scheduler.stop();
    // Open SSE streams never end on their own: end them, or the shutdown waits for ever.
    region.topics.close();
    region.status.close();
    channelWatchOf(region.store).close(); // waiting reads answer now
    stage = "server";
    await server.shutdown();
    stage = "region";
    await region.close();
    stage = "exit";
    Deno.exit(0);
  });
}
