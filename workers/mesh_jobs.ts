/**
 * The region's scheduled jobs, registered on a scheduler: leader lease, heartbeats (partition
 * detection), eager fan-out and anti-entropy. Thin: the work is in MeshNode; this says how often.
 */
import { FANOUT_MS_DEFAULT, type MeshNode } from "../src/mesh/mesh_node.ts";
import type { Scheduler } from "../src/mesh/scheduler.ts";

export function scheduleMeshJobs(scheduler: Scheduler, node: MeshNode): void {
  scheduler.every("leader-lease", node.lease.renewEveryMs, () => node.leaseTick());
  scheduler.every("heartbeat", node.heartbeatMs, () => node.heartbeatTick());
  scheduler.every("fan-out", FANOUT_MS_DEFAULT, () => node.fanOutTick());
  scheduler.every("anti-entropy", node.antiEntropyMs, () => node.antiEntropyTick());
}
