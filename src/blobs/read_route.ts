/**
 * `GET` and `HEAD /v1/blobs/{sha256}` (docs/protocol.md §25.4): public — the hash is the
 * capability. A blob this region stores is served from the store as a stream; one it lacks is
 * pulled from its peers first when a live `_blobs` entry references it (`peer_pull.ts`), unless
 * the request says `Mesh-Blob-Scope: local` (what peers send: a pull never recurses). Answers
 * carry the strong ETag `"<sha256>"`, honour `If-None-Match` (304) and a single byte `Range`
 * (206, or 416 with a `Content-Range` naming the size).
 */
import type { Context } from "hono";
import type { RegionDeps } from "../region/deps.ts";
import { Problem } from "../region/problem.ts";
import { chargeAddress } from "../region/push_route.ts";
import type { BlobRecord } from "../store/blob_store.ts";
import { names } from "../telemetry/mod.ts";
import type { Blobs } from "./blobs.ts";
import { BLOB_SCOPE_HEADER, BLOB_SCOPE_LOCAL } from "./peer_pull.ts";
import { blobEtag, noneMatch, parseRange } from "./range.ts";
import { blobStream } from "./read_stream.ts";
import { shaParam } from "./upload_route.ts";

/** Cache-Control of a blob: its bytes can never change under its name. */
export const BLOB_CACHE_CONTROL = "public, max-age=31536000, immutable";

/** `GET` and `HEAD /v1/blobs/{sha256}`. */
export function readHandler(blobs: Blobs, deps: RegionDeps) {
  return (c: Context) => {
    const sha = shaParam(c);
    const scope = c.req.header(BLOB_SCOPE_HEADER);
    if (scope !== undefined && scope !== BLOB_SCOPE_LOCAL) {
      throw new Problem("invalid-request", `${BLOB_SCOPE_HEADER} may only be ${BLOB_SCOPE_LOCAL}`);
    }
    return deps.telemetry.inSpan(names.SPAN_BLOB_READ, deps.base, async (span) => {
      let record = await blobs.store.blobs.getBlob(sha);
      let source = "local";
      if (record === null && scope === undefined && await blobs.references.has(sha)) {
        await chargeAddress(deps, c, span); // a pull costs the peers: it costs like a push
        record = await blobs.puller.pull(sha);
        source = "peer";
      }
      span.setAttribute(names.ATTR_BLOB_SOURCE, record === null ? "absent" : source);
      if (record === null) {
        throw new Problem(
          "not-found",
          scope === undefined
            ? `No blob ${sha} in this region, and no reachable peer had it`
            : `No blob ${sha} in this region`,
          { "cache-control": "no-store" },
        );
      }
      span.setAttribute(names.ATTR_BLOB_SIZE, record.size);
      return serve(c, blobs, record);
    });
  };
}

/** The answer for a blob this region stores: 200, 206, 304 or 416. */
function serve(c: Context, blobs: Blobs, record: BlobRecord): Response {
  const { sha256, size } = record;
  const headers: Record<string, string> = {
    etag: blobEtag(sha256),
    "cache-control": BLOB_CACHE_CONTROL,
    "accept-ranges": "bytes",
  };
  if (noneMatch(c.req.header("if-none-match") ?? null, sha256)) {
    return new Response(null, { status: 304, headers });
  }
  const ask = parseRange(
    c.req.header("range") ?? null,
    size,
    sha256,
    c.req.header("if-range") ?? null,
  );
  if (ask.kind === "unsatisfiable") {
    throw new Problem("range-not-satisfiable", ask.detail, { "content-range": `bytes */${size}` });
  }
  const [start, end] = ask.kind === "part" ? [ask.start, ask.end] : [0, size - 1];
  Object.assign(headers, {
    "content-type": "application/octet-stream",
    "content-length": String(end - start + 1),
    // The bytes are anyone's: never let a browser run them as a page of this origin.
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox",
  });
  if (ask.kind === "part") headers["content-range"] = `bytes ${start}-${end}/${size}`;
  const status = ask.kind === "part" ? 206 : 200;
  if (c.req.method === "HEAD") return new Response(null, { status, headers });
  const counted = { ...blobs.base, [names.ATTR_BLOB_DIRECTION]: "download" };
  const body = blobStream(
    blobs.store.blobs,
    record,
    start,
    end,
    (n) => blobs.telemetry.blobBytes.add(n, counted),
  );
  return new Response(body, { status, headers });
}
