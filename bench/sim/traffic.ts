/** The run's traffic, by kind and in all, per agent, and what crossed regions and zones. */
import { MESSAGE_KINDS, type MessageKind, type TrafficCount } from "./network.ts";
import type { World } from "./world.ts";

export interface Traffic {
  readonly byKind: Record<MessageKind, TrafficCount>;
  readonly total: TrafficCount;
  /**
   * All messages and bytes (agents' and regions') divided by the number of agents, and the part
   * that carries deltas (pushes, fan-out, anti-entropy fetches and repairs; the rest is
   * heartbeats and reconciliation frames, a cost per region, not per agent).
   */
  readonly perAgent: { messages: number; bytes: number; dataMessages: number; dataBytes: number };
  /** Region-to-region traffic, and the part that crossed zones. */
  readonly crossRegion: TrafficCount;
  readonly crossZone: TrafficCount;
  /** Region-to-region bytes per delta stored, and per delta per region that stored it. */
  readonly crossRegionBytesPerDelta: number;
  readonly crossRegionBytesPerCopy: number;
}

export function summarize(world: World): Traffic {
  const { net, options, metrics } = world;
  const byKind = Object.fromEntries(
    MESSAGE_KINDS.map((k) => [k, { ...net.byKind.get(k)! }]),
  ) as Record<MessageKind, TrafficCount>;
  const total = net.total();
  const data = (["push", "fanout", "fetch", "repair"] as const).map((k) => byKind[k]);
  const dataMessages = data.reduce((n, c) => n + c.messages, 0);
  const dataBytes = data.reduce((n, c) => n + c.bytes, 0);
  const stored = Math.max(1, metrics.stored);
  const copies = Math.max(1, metrics.stored * (world.regions.length - 1));
  return {
    byKind,
    total,
    perAgent: {
      messages: total.messages / options.agents,
      bytes: total.bytes / options.agents,
      dataMessages: dataMessages / options.agents,
      dataBytes: dataBytes / options.agents,
    },
    crossRegion: { ...net.crossRegion },
    crossZone: { ...net.crossZone },
    crossRegionBytesPerDelta: net.crossRegion.bytes / stored,
    crossRegionBytesPerCopy: net.crossRegion.bytes / copies,
  };
}
