/**
 * A store holding only a region log that a test appends to as another instance of the region
 * would (nobody in the process is told), for workers around one class (test/review/
 * _channel_watch_worker.ts, test/topics/_hub_worker.ts). Other reads answer empty.
 */
import type { RegionStore, StoredDelta } from "../../src/store/region_store.ts";
import { FIRST_DATA_SHARD, LOG_SHARDS } from "../../src/store/region_log.ts";

export function fakeLogStore() {
  const log: { shard: number; n: number; channel: string; id: string; origin: "agent" }[] = [];
  const deltas = new Map<string, StoredDelta>();
  const heads = () =>
    Array.from({ length: LOG_SHARDS }, (_, s) => s === FIRST_DATA_SHARD ? log.length : 0);
  const store = {
    kind: "memory",
    logHeads: () => Promise.resolve(heads()),
    listLog: (shard: number, after: number, limit: number) => {
      const entries = shard === FIRST_DATA_SHARD ? log.slice(after, after + limit) : [];
      const cursor = entries.length > 0 ? entries[entries.length - 1].n : after;
      return Promise.resolve({ entries, cursor, more: entries.length > 0 && cursor < log.length });
    },
    getDelta: (_channel: string, id: string) => Promise.resolve(deltas.get(id) ?? null),
    listArrivals: (_channel: string, after: number) =>
      Promise.resolve({ deltas: [], cursor: after, more: false }),
    // The watch's poll reads the quarantine's marks first (55b6057): nothing ever moves here.
    changeMarks: (channels: readonly string[]) =>
      Promise.resolve({ arrivals: channels.map(() => 0), equivocations: 0 }),
    listEquivocations: (after: number) =>
      Promise.resolve({ equivocations: [], entries: [], cursor: after, more: false }),
  } as unknown as RegionStore;
  return {
    store,
    /** Appends `delta` (or a bare entry for `channel`) to the log; its position. */
    append(channel: string, delta?: Omit<StoredDelta, "channel">): number {
      const id = delta?.id ?? `x${log.length + 1}`;
      if (delta !== undefined) deltas.set(id, { ...delta, channel });
      log.push({ shard: FIRST_DATA_SHARD, n: log.length + 1, channel, id, origin: "agent" });
      return log.length;
    },
  };
}
