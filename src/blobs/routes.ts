/**
 * The blob routes (docs/protocol.md §25) as a region route group: `PUT /v1/blobs/{sha256}` (an
 * agent's signed upload) and `GET`/`HEAD /v1/blobs/{sha256}` (public reads, pulled from peers on
 * demand). Any other method answers 405.
 */
import { Hono } from "hono";
import { allowOnly } from "../region/app.ts";
import type { RegionDeps } from "../region/deps.ts";
import type { Blobs } from "./blobs.ts";
import { readHandler } from "./read_route.ts";
import { uploadHandler } from "./upload_route.ts";

export const BLOB_PATH = "/v1/blobs/:sha256";

/** The blob routes over `blobs`, for `RegionOptions.routes`. */
export function blobRoutes(blobs: Blobs): (deps: RegionDeps) => Hono {
  return (deps) => {
    const app = new Hono();
    app.put(BLOB_PATH, uploadHandler(blobs, deps));
    app.on(["GET", "HEAD"], BLOB_PATH, readHandler(blobs, deps));
    allowOnly(app, BLOB_PATH, "GET, HEAD, PUT");
    return app;
  };
}
