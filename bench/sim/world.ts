/** What every part of the scale simulation shares: clock, network, deltas, regions, metrics. */
import type { Rng } from "../../test/support/seeded_rng.ts";
import type { DeltaPool } from "./delta_pool.ts";
import type { EventQueue } from "./event_queue.ts";
import type { Metrics } from "./metrics.ts";
import type { SimNetwork } from "./network.ts";
import type { Layout, ScenarioOptions } from "./scenario.ts";
import type { SimRegion } from "./sim_region.ts";

export interface World {
  readonly options: ScenarioOptions;
  readonly queue: EventQueue;
  readonly net: SimNetwork;
  readonly pool: DeltaPool;
  readonly layout: Layout;
  readonly regions: readonly SimRegion[];
  readonly metrics: Metrics;
  /** Region index by id. */
  readonly indexOf: ReadonlyMap<string, number>;
  /** Back-off jitter and reconciliation salts: their own stream, so they shift nothing else. */
  readonly jitter: Rng;
  /** Asks region `index` to drain its log to its targets now (coalesced). */
  kick(index: number): void;
}
