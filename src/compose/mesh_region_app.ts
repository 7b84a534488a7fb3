/**
 * The region's Hono app with the mesh mounted when the region runs in a topology: the region's
 * routes learn of the mesh only through two functions passed in (wake the fan-out after a push,
 * report the status), and the mesh's routes are a Hono app of their own.
 */
import type { Hono } from "hono";
import type { MeshNode } from "../mesh/mesh_node.ts";
import { meshRoutes } from "../mesh/peer_routes.ts";
import type { RegionIndex } from "../mesh/region_index.ts";
import { createRegionApp, type RegionOptions } from "../region/app.ts";

export interface MeshRegionOptions extends RegionOptions {
  /** The mesh, when the region runs in a topology: /v1/peer/*, /v1/sync, and its status. */
  readonly mesh?: { readonly node: MeshNode; readonly index: RegionIndex };
}

export function meshRegionApp(options: MeshRegionOptions): Hono {
  const { mesh, ...region } = options;
  if (mesh === undefined) return createRegionApp(region);
  const app = createRegionApp({
    ...region,
    onStored: () => mesh.node.kick(),
    status: () => mesh.node.status(),
  });
  app.route("/", meshRoutes(mesh.node, mesh.index));
  return app;
}
