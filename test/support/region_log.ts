/** The region log of a store as tests read it: every shard, in shard order, each paged. */
import { LOG_SHARDS } from "../../src/store/region_log.ts";
import type { LogEntry, RegionStore } from "../../src/store/region_store.ts";

/** The whole region log, shard by shard, each read in pages of `pageSize`. */
export async function readLog(store: RegionStore, pageSize = 17): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  for (let shard = 0; shard < LOG_SHARDS; shard++) {
    for (let cursor = 0, more = true; more;) {
      const page = await store.listLog(shard, cursor, pageSize);
      entries.push(...page.entries);
      ({ cursor, more } = page);
    }
  }
  return entries;
}
