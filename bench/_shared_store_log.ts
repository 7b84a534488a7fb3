/** The whole region log of a store, as `bench/shared_store.ts` checks it: gapless, each id once. */
import { LOG_SHARDS, logTotal } from "../src/store/region_log.ts";
import type { RegionStore } from "../src/store/region_store.ts";

export interface WholeLog {
  readonly entries: number;
  readonly ids: Set<string>;
  /** How the log is laid out, for the report. */
  readonly segments: string;
}

/** Reads every shard of the region log from 1, checking each shard's numbers run without gaps. */
export async function readWholeLog(store: RegionStore): Promise<WholeLog> {
  const ids = new Set<string>();
  const used: number[] = [];
  let entries = 0;
  for (let shard = 0; shard < LOG_SHARDS; shard++) {
    for (let after = 0;;) {
      const page = await store.listLog(shard, after, 1_000);
      page.entries.forEach((e, i) => {
        if (e.n !== after + i + 1) throw new Error(`region log shard ${shard}: gap at ${e.n}`);
        ids.add(e.id);
      });
      entries += page.entries.length;
      after = page.cursor;
      if (!page.more) break;
    }
    if (entries > logTotal(used)) used.push(entries - logTotal(used));
    else used.push(0);
  }
  if (entries !== await store.logHead()) throw new Error("region log: heads disagree");
  const shards = used.flatMap((n, shard) => n > 0 ? [`${shard}:${n}`] : []);
  return { entries, ids, segments: `shards ${shards.join(" ")}` };
}
