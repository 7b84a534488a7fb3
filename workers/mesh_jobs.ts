/**
 * The region's scheduled jobs, registered on a scheduler: leader lease, heartbeats (partition
 * detection), eager fan-out, anti-entropy and, when given, bootstrap by bulk copy. Thin: the work
 * is in MeshNode and Bootstrap; this says how often. Anti-entropy waits while a copy runs (the
 * copy moves the set; reconciliation then brings what it did not).
 */
import { type Bootstrap, BOOTSTRAP_TICK_MS } from "../src/mesh/bootstrap.ts";
import { FANOUT_MS_DEFAULT, type MeshNode } from "../src/mesh/mesh_node.ts";
import type { Scheduler } from "../src/mesh/scheduler.ts";

export function scheduleMeshJobs(
  scheduler: Scheduler,
  node: MeshNode,
  bootstrap?: Bootstrap,
): void {
  scheduler.every("leader-lease", node.lease.renewEveryMs, () => node.leaseTick());
  scheduler.every("heartbeat", node.heartbeatMs, () => node.heartbeatTick());
  scheduler.every("fan-out", FANOUT_MS_DEFAULT, () => node.fanOutTick());
  // Before anti-entropy: where a round runs the jobs in order, a copy under way (or resumed after
  // a restart) is known before anti-entropy asks whether to wait.
  if (bootstrap !== undefined) {
    scheduler.every("bootstrap", BOOTSTRAP_TICK_MS, () => bootstrap.tick());
  }
  scheduler.every(
    "anti-entropy",
    node.antiEntropyMs,
    () => bootstrap?.copying ? Promise.resolve() : node.antiEntropyTick(),
  );
}
