/**
 * The registry's periodic job, registered on a scheduler: writes waiting liveness records and
 * indexes `_registry` deltas that arrived without a push here to trigger it (relays on other
 * instances, a crash between store and index). Thin: the work is in Registry.
 */
import { type Registry, REGISTRY_JOB_MS_DEFAULT } from "../src/registry/registry.ts";
import type { Scheduler } from "../src/mesh/scheduler.ts";

export function scheduleRegistryJobs(scheduler: Scheduler, registry: Registry): void {
  scheduler.every("registry", REGISTRY_JOB_MS_DEFAULT, () => registry.tick());
}
