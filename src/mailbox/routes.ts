/**
 * The mailbox routes (docs/protocol.md §23): send a sealed direct message (`POST /v1/messages`),
 * and, only with a request the owner signs (RFC 9421, §21), read a mailbox
 * (`GET /v1/agents/{id}/inbox`) and acknowledge messages (`POST /v1/agents/{id}/inbox/ack`, whose
 * body carries the owner's signed acknowledgement delta, which replicates to every region).
 */
import { Hono } from "hono";
import { inboxChannel } from "../protocol/message_kinds.ts";
import type { Delta } from "../protocol/delta.ts";
import { agentParam, signedByAgent } from "../region/agent_request.ts";
import { allowOnly } from "../region/app.ts";
import type { RegionDeps } from "../region/deps.ts";
import { Problem } from "../region/problem.ts";
import { integerQuery } from "../region/query_params.ts";
import { chargeAddress, ingestPush, pushHandler } from "../region/push_route.ts";
import { PUSH_BYTES_MAX, PUSH_DELTAS_MAX } from "../protocol/limits.ts";
import { ACK_BODY_BYTES_MAX } from "../protocol/message_wire.ts";
import { names } from "../telemetry/mod.ts";
import { quarantineOf } from "../guard/quarantine.ts";
import { INBOX_LIMIT_DEFAULT, INBOX_LIMIT_MAX, readInbox } from "./inbox.ts";

export { ACK_BODY_BYTES_MAX };

const ROUTES: [string, string][] = [
  ["/v1/messages", "POST"],
  ["/v1/agents/:id/inbox", "GET"],
  ["/v1/agents/:id/inbox/ack", "POST"],
];

/** The mailbox routes, as a region route group (requests signed for `deps.authorities`). */
export function mailboxRoutes(): (deps: RegionDeps) => Hono {
  return (deps) => {
    const app = new Hono();
    app.post(
      "/v1/messages",
      pushHandler(
        deps,
        "messages",
        (delta: Delta) =>
          delta.kind === "message" ? null : "this route takes direct messages (docs §23)",
      ),
    );
    app.get("/v1/agents/:id/inbox", (c) => {
      const id = agentParam(c);
      return deps.telemetry.inSpan(names.SPAN_INBOX_READ, deps.base, async (span) => {
        await chargeAddress(deps, c, span); // a read scans part of the mailbox: costs like a push
        const nowMs = deps.now();
        await signedByAgent(c, id, span, { ...deps, nowMs, bodyBytesMax: 0 });
        const after = integerQuery(c.req.query("after"), "after", 0, Number.MAX_SAFE_INTEGER, 0);
        const limit = integerQuery(
          c.req.query("limit"),
          "limit",
          1,
          INBOX_LIMIT_MAX,
          INBOX_LIMIT_DEFAULT,
        );
        const excluded = await quarantineOf(deps.store).authors(nowMs);
        const page = await readInbox(deps.store, id, after, limit, nowMs, excluded);
        span.setAttributes({
          [names.ATTR_INBOX_MESSAGES]: page.messages.length,
          [names.ATTR_INBOX_EXAMINED]: page.examined,
          [names.ATTR_INBOX_SWEPT]: page.swept,
        });
        const messages = page.messages.map(({ arrival: _, ...m }) => m);
        return c.json({ messages, cursor: String(page.cursor), more: page.more });
      });
    });
    app.post("/v1/agents/:id/inbox/ack", (c) => {
      const id = agentParam(c);
      return deps.telemetry.inSpan(names.SPAN_INBOX_ACK, deps.base, async (span) => {
        await chargeAddress(deps, c, span);
        const nowMs = deps.now();
        const { body } = await signedByAgent(c, id, span, {
          ...deps,
          nowMs,
          bodyBytesMax: ACK_BODY_BYTES_MAX,
        });
        const envelopes = ackEnvelopes(body);
        const mailbox = inboxChannel(id);
        const { results } = await ingestPush(
          deps,
          envelopes,
          nowMs,
          (d) =>
            d.kind === undefined && d.channel === mailbox
              ? null
              : `this route takes acknowledgements in ${mailbox}`,
        );
        return c.json({ results });
      });
    });
    for (const [path, allow] of ROUTES) allowOnly(app, path, allow);
    return app;
  };
}

/** The `acks` array of an acknowledgement body `{"acks": [envelope, ...]}`. */
function ackEnvelopes(bytes: Uint8Array): unknown[] {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new Problem("malformed-request", "Body is not UTF-8 JSON");
  }
  const acks = (body as { acks?: unknown } | null)?.acks;
  if (
    typeof body !== "object" || body === null || Array.isArray(body) || !Array.isArray(acks) ||
    Object.keys(body).length !== 1
  ) {
    throw new Problem("invalid-request", 'Body must be {"acks": [envelope, ...]}');
  }
  if (acks.length > PUSH_DELTAS_MAX || bytes.length > PUSH_BYTES_MAX) {
    throw new Problem("payload-too-large", `At most ${PUSH_DELTAS_MAX} acknowledgements`);
  }
  return acks;
}
