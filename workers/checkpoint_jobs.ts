/**
 * The view checkpoint job, registered on a scheduler: writes the checkpoints of large channels
 * that are due, run by the one instance that holds the `view-checkpoints` lease. Thin: the work
 * is in CheckpointJob (src/views/checkpoint_job.ts).
 */
import { CHECKPOINT_JOB_MS_DEFAULT, type CheckpointJob } from "../src/views/checkpoint_job.ts";
import type { Scheduler } from "../src/mesh/scheduler.ts";

export function scheduleCheckpointJobs(scheduler: Scheduler, checkpoints: CheckpointJob): void {
  scheduler.every("view-checkpoints", CHECKPOINT_JOB_MS_DEFAULT, async () => {
    await checkpoints.tick();
  });
}
