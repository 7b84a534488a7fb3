/** What the region's route groups share, built once by `createRegionApp` from its options. */
import type { Context } from "hono";
import type { AdmissionPolicy } from "../guard/admission.ts";
import type { RateLimiter } from "../guard/rate_limiter.ts";
import type { Delta } from "../protocol/delta.ts";
import type { VerifyFn } from "../protocol/result.ts";
import type { RegionStore } from "../store/region_store.ts";
import type { Telemetry } from "../telemetry/mod.ts";
import type { ChannelViews } from "../views/channel_views.ts";

export interface RegionDeps {
  readonly region: string;
  readonly store: RegionStore;
  readonly verify: VerifyFn;
  readonly now: () => number;
  readonly telemetry: Telemetry;
  readonly views: ChannelViews;
  readonly limiter: RateLimiter;
  readonly clientAddress: (c: Context) => string;
  readonly admission: AdmissionPolicy | undefined;
  /** Authorities signed agent requests must name (empty: any); see `RegionOptions`. */
  readonly authorities: readonly string[];
  /** Called with what a push stored, before it is answered (see `RegionOptions.onStored`). */
  readonly onStored: (stored: readonly Delta[]) => void | Promise<void>;
  /** Told of a push's admitted deltas as their store write starts (see `RegionOptions`). */
  readonly onAdmitted?: (deltas: readonly Delta[]) => void;
  /** Attributes every span and metric of the region carries. */
  readonly base: Record<string, string>;
}
