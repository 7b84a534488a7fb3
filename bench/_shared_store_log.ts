/** The whole region log of a store, as `bench/shared_store.ts` checks it: gapless, each id once. */
import type { RegionStore } from "../src/store/region_store.ts";

export interface WholeLog {
  readonly entries: number;
  readonly ids: Set<string>;
  /** How the log is laid out, for the report. */
  readonly segments: string;
}

/** Reads the one region log from 1, checking its numbers run without gaps. */
export async function readWholeLog(store: RegionStore): Promise<WholeLog> {
  const ids = new Set<string>();
  let entries = 0;
  for (let after = 0;;) {
    const page = await store.listLog(after, 1_000);
    page.entries.forEach((e, i) => {
      if (e.n !== after + i + 1) throw new Error(`region log: gap at ${e.n}`);
      ids.add(e.id);
    });
    entries += page.entries.length;
    after = page.cursor;
    if (!page.more) break;
  }
  if (entries !== await store.logHead()) throw new Error("region log: head disagrees");
  return { entries, ids, segments: "one log" };
}
