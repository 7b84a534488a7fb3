/**
 * Every periodic job of a region, registered on one scheduler: the mesh's (in a topology), the
 * registry's, the proposal announcer's (in a topology), the blob collector and the view
 * checkpoint writer. Thin: each schedule* file says how often; the entrypoints say which scheduler
 * (timers in `deno task start`, Deno KV queues on Deno Deploy, a window of timers per cron trigger
 * on Workers and Vercel Edge).
 */
import type { OpenRegion } from "../src/compose/open_region.ts";
import type { Scheduler } from "../src/mesh/scheduler.ts";
import { scheduleBlobJobs } from "./blob_jobs.ts";
import { scheduleCheckpointJobs } from "./checkpoint_jobs.ts";
import { scheduleMeshJobs } from "./mesh_jobs.ts";
import { scheduleProposalJobs } from "./proposal_jobs.ts";
import { scheduleRegistryJobs } from "./registry_jobs.ts";

export function scheduleRegionJobs(scheduler: Scheduler, region: OpenRegion): void {
  if (region.mesh !== null) {
    scheduleMeshJobs(scheduler, region.mesh, region.bootstrap ?? undefined);
  }
  scheduleRegistryJobs(scheduler, region.registry);
  if (region.announcer !== null) scheduleProposalJobs(scheduler, region.announcer);
  scheduleBlobJobs(scheduler, region.blobs);
  scheduleCheckpointJobs(scheduler, region.checkpoints);
}
