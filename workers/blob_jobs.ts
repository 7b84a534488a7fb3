/**
 * The blobs' periodic job, registered on a scheduler: the collector (unreferenced blobs past
 * their grace, abandoned uploads), run by the one instance that holds the `blob-gc` lease.
 * Thin: the work is in Blobs.
 */
import type { Blobs } from "../src/blobs/mod.ts";
import type { Scheduler } from "../src/mesh/scheduler.ts";

export function scheduleBlobJobs(scheduler: Scheduler, blobs: Blobs): void {
  scheduler.every("blob-gc", blobs.gcEveryMs, async () => void await blobs.tick());
}
