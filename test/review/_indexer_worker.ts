/**
 * A module worker around RegistryIndexer.catchUp (for registry_indexer_workerd_test.ts): a call
 * that finds a run under way waits for one run queued behind it, which starts when the first
 * ends. The fake store takes 300 ms to read the cursor (a timer standing in for the store's fetch,
 * which belongs to the request that made it). `/catch-up` catches up and answers how long it took.
 */
import { RegistryIndexer } from "../../src/registry/indexer.ts";
import type { RegionStore } from "../../src/store/region_store.ts";

const store = {
  kind: "memory",
  getCursor: () => new Promise((resolve) => setTimeout(() => resolve(0), 300)),
  listArrivals: (_channel: string, after: number) =>
    Promise.resolve({ deltas: [], cursor: after, more: false }),
} as unknown as RegionStore;
const indexer = new RegistryIndexer(store);

export default {
  async fetch(): Promise<Response> {
    const started = Date.now();
    const result = await indexer.catchUp();
    return Response.json({ done: result.done, tookMs: Date.now() - started });
  },
};
