/** The regions a region pulls a missing blob from, in the order it asks them. */
import type { BlobPeer } from "../blobs/mod.ts";
import type { RegionInfo, Topology } from "../mesh/topology.ts";

/** Every other region of the topology: `self`'s zone first, then the rest, in topology order. */
export function blobPeers(topology: Topology, self: RegionInfo): BlobPeer[] {
  const others = topology.regions.filter((r) => r.id !== self.id);
  return [
    ...others.filter((r) => r.zone === self.zone),
    ...others.filter((r) => r.zone !== self.zone),
  ].map((r) => ({ id: r.id, url: r.url }));
}
