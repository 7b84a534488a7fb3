/**
 * Edge entrypoint of a region: a Hono app as the default export, for `deno serve`, Deno Deploy
 * or any runtime that takes `{ fetch }`. Configured from the environment (see README). When the
 * region runs in a topology, its jobs run on Deno KV queue messages re-seeded by Deno.cron, so
 * they keep running between requests on serverless hosts.
 */
import { regionConfig } from "../src/compose/config.ts";
import { configureLog, log } from "../src/telemetry/log.ts";
import { openRegion } from "../src/compose/open_region.ts";
import { KvQueueScheduler } from "../src/mesh/scheduler.ts";
import { scheduleMeshJobs } from "../workers/mesh_jobs.ts";
import { scheduleRegistryJobs } from "../workers/registry_jobs.ts";
import { scheduleProposalJobs } from "../workers/proposal_jobs.ts";
import { scheduleBlobJobs } from "../workers/blob_jobs.ts";

const config = regionConfig(Deno.env.toObject());
configureLog({ level: config.MESH_LOG_LEVEL });
const region = await openRegion(config);
if (region.mesh !== null) {
  const scheduler = new KvQueueScheduler(await Deno.openKv(), {
    telemetry: region.telemetry,
    log: log.with({ region: config.MESH_REGION }),
  });
  scheduleMeshJobs(scheduler, region.mesh);
  // A standalone region has no queue chain: pushes and requests index the registry themselves.
  scheduleRegistryJobs(scheduler, region.registry);
  if (region.announcer !== null) scheduleProposalJobs(scheduler, region.announcer);
  // A standalone serverless region has no queue chain and so no blob collector (docs/operations.md).
  scheduleBlobJobs(scheduler, region.blobs);
}

export default region.app;
