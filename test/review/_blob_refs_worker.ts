/**
 * A module worker around BlobReferences.has (for blob_references_workerd_test.ts), which a public
 * read of a blob this region does not hold asks (`GET /v1/blobs/{sha256}`, read_route.ts). Its
 * fake store takes 300 ms to read the channel marks (a timer standing in for the store's fetch,
 * which belongs to the request that made it) and fails the first arrivals read (a transient
 * store error). `/has` answers whether the blob is referenced, or 503 when the store failed.
 */
import { BlobReferences } from "../../src/blobs/references.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";

let failures = 1;
const slow = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 300));
const store = {
  kind: "memory",
  changeMarks: (channels: readonly string[]) =>
    slow({ arrivals: channels.map(() => 0), equivocations: 0 }),
  listArrivals: (_channel: string, after: number) =>
    failures-- > 0
      ? Promise.reject(new Error("the store failed"))
      : Promise.resolve({ deltas: [], cursor: after, more: false }),
  listEquivocations: (after: number) =>
    Promise.resolve({ equivocations: [], entries: [], cursor: after, more: false }),
} as unknown as RegionStore;
const references = new BlobReferences(new ChannelViews(store, { checkpoints: false }), store);

export default {
  async fetch(): Promise<Response> {
    const started = Date.now();
    try {
      const has = await references.has("ab".repeat(32));
      return Response.json({ has, tookMs: Date.now() - started });
    } catch (error) {
      return new Response((error as Error).message, { status: 503 });
    }
  },
};
