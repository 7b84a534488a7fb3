/**
 * The mesh's HTTP surface, mounted on the region app when the region runs in a topology:
 * signed region-to-region endpoints (answered with signed answers; refusals are unsigned
 * problem+json) and range-based reconciliation (also open to agents catching up after moving
 * region). The status report is the region's route, fed by `MeshNode.status()`. Each request
 * continues the trace its `traceparent` names.
 */
import { type Context, Hono } from "hono";
import { CHANNEL_PATTERN } from "../protocol/limits.ts";
import { type AdmissionPolicy } from "../guard/admission.ts";
import { privateChannel } from "../guard/read_access.ts";
import { type MeshNode, RegionMessageRefused, type SignedAnswer } from "./mesh_node.ts";
import { allowOnly } from "../region/app.ts";
import { Problem } from "../region/problem.ts";
import { refusalProblem, REGION_MESSAGE_BYTES_MAX, SIGNATURE_HEADER } from "./region_message.ts";
import { readBodyBytes, readJsonBody, readTextBody, requireJson } from "../region/read_body.ts";
import type { RegionIndex } from "./region_index.ts";
import { SYNC_FETCH_IDS_MAX, SYNC_FRAME_BYTES_MAX } from "./region_index.ts";
import { continueTrace, TRACEPARENT_HEADER } from "../telemetry/trace_context.ts";

function refused(error: unknown): never {
  if (error instanceof RegionMessageRefused) {
    throw refusalProblem(error.reason, error.message);
  }
  throw error;
}

/** A 200 carrying a signed answer, its signature in the same header as a request's. */
function answered(c: Context, answer: SignedAnswer): Response {
  return c.body(answer.body, 200, {
    "content-type": "application/json",
    [SIGNATURE_HEADER]: answer.signature,
  });
}

/** The mesh's routes, with the method each takes (any other method answers 405). */
const MESH_ROUTES: [string, string][] = [
  ["/v1/peer/deltas", "POST"],
  ["/v1/peer/heartbeat", "POST"],
  ["/v1/peer/fetch", "POST"],
  ["/v1/sync", "POST"],
  ["/v1/sync/fetch", "POST"],
];

/** The mesh's routes as a Hono app, for the composition root to mount on the region's. */
export function meshRoutes(
  mesh: MeshNode,
  index: RegionIndex,
  admission?: AdmissionPolicy,
): Hono {
  const hidden = (channel: string) => privateChannel(admission, channel);
  const app = new Hono();
  // A peer's request carries the `traceparent` of the span that sent it: what is done here for
  // it (ingest, relaying on) continues that trace (a no-op when the region app already did).
  app.use((c, next) => continueTrace(c.req.header(TRACEPARENT_HEADER), next));
  app.post("/v1/peer/deltas", async (c) => {
    requireJson(c.req.raw);
    const body = await readTextBody(c.req.raw, REGION_MESSAGE_BYTES_MAX);
    const signature = c.req.header(SIGNATURE_HEADER) ?? null;
    return answered(c, await mesh.onPeerDeltas(body, signature).catch(refused));
  });

  app.post("/v1/peer/fetch", async (c) => {
    requireJson(c.req.raw);
    const body = await readTextBody(c.req.raw, REGION_MESSAGE_BYTES_MAX);
    const signature = c.req.header(SIGNATURE_HEADER) ?? null;
    return answered(c, await mesh.inbox.onPeerFetch(body, signature).catch(refused));
  });

  app.post("/v1/peer/heartbeat", async (c) => {
    requireJson(c.req.raw);
    const body = await readTextBody(c.req.raw, REGION_MESSAGE_BYTES_MAX);
    const signature = c.req.header(SIGNATURE_HEADER) ?? null;
    return answered(c, await mesh.onHeartbeat(body, signature).catch(refused));
  });

  app.post("/v1/sync", async (c) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/octet-stream") {
      throw new Problem("unsupported-media-type", "Content-Type must be application/octet-stream");
    }
    const channel = c.req.query("channel");
    if (channel !== undefined && !CHANNEL_PATTERN.test(channel)) {
      throw new Problem("invalid-request", "channel must match [A-Za-z0-9._:-]{1,64}");
    }
    if (channel !== undefined && hidden(channel)) {
      throw new Problem(
        "forbidden",
        "This channel is private: its members read it with signed requests to /v1/channels/" +
          "{c} (a mailbox: GET /v1/agents/{id}/inbox); /v1/sync does not serve it",
      );
    }
    const frame = await readBodyBytes(c.req.raw, SYNC_FRAME_BYTES_MAX);
    const answer = await index.respond(frame, channel);
    return c.body(answer as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "application/octet-stream",
    });
  });

  app.post("/v1/sync/fetch", async (c) => {
    requireJson(c.req.raw);
    const body = await readJsonBody(c.req.raw, SYNC_FRAME_BYTES_MAX);
    const ids = (body as { ids?: unknown })?.ids;
    if (
      !Array.isArray(ids) || ids.length > SYNC_FETCH_IDS_MAX ||
      !ids.every((i) => typeof i === "string")
    ) {
      throw new Problem(
        "invalid-request",
        `Body must be {"ids": [...]} with at most ${SYNC_FETCH_IDS_MAX} strings`,
      );
    }
    return c.json({ deltas: await index.fetch(ids as string[], hidden) });
  });

  for (const [path, allow] of MESH_ROUTES) allowOnly(app, path, allow);
  return app;
}
