/**
 * The proposals' periodic job, registered on a scheduler: announces outcomes this region decided
 * on the `mesh.proposals` topic, signed with the region key. Thin: the work is in
 * ProposalAnnouncer.
 */
import type { ProposalAnnouncer } from "../src/proposals/announcer.ts";
import type { Scheduler } from "../src/mesh/scheduler.ts";

/** How often the region looks for outcomes to announce, in ms. */
export const ANNOUNCE_JOB_MS = 2_000;

export function scheduleProposalJobs(scheduler: Scheduler, announcer: ProposalAnnouncer): void {
  scheduler.every("proposals", ANNOUNCE_JOB_MS, async () => {
    await announcer.tick();
  });
}
