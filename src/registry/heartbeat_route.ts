/**
 * `POST /v1/agents/{id}/heartbeat` (docs/protocol.md §20.6): an agent says it is alive with a
 * request signed by its key (RFC 9421, §21), without pushing a delta. The heartbeat raises the
 * agent's liveness in this region only: it is region-local soft state written to the store like
 * the liveness that pushes note, never a replicated delta, so other regions learn of the agent
 * from its pushes (or its heartbeats to them), not from this one.
 *
 * Order: the signature is checked without the store (a forger costs CPU only), and its
 * `@authority` against this region's (a heartbeat signed for another region is refused); then
 * the nonce is claimed (a replay is refused in every instance before it can spend anything); then
 * the agent's heartbeat token is drawn; liveness is noted only for an agent with a card here (a
 * throwaway key leaves no lasting record: its nonce and bucket expire).
 */
import { Hono } from "hono";
import { chargeHeartbeat, retryAfterSeconds } from "../guard/rate_limiter.ts";
import { CLOCK_SKEW_FUTURE_MS_MAX } from "../protocol/limits.ts";
import { HTTP_SIGNATURE_SKEW_MS_MAX } from "../protocol/signature_base.ts";
import { allowOnly } from "../region/app.ts";
import { Problem } from "../region/problem.ts";
import { agentParam, signedByAgent } from "../region/agent_request.ts";
import { names } from "../telemetry/mod.ts";
import { cardKey, parseCardRecord } from "./index_layout.ts";
import type { Registry } from "./registry.ts";

/** A heartbeat carries no body: its signed request is the whole message. */
export const HEARTBEAT_BODY_BYTES_MAX = 0;

// A heartbeat's time is the signer's `created`, accepted within HTTP_SIGNATURE_SKEW_MS_MAX of the
// region clock; like a delta's `ts`, it must never be further ahead than deltas may be.
if (HTTP_SIGNATURE_SKEW_MS_MAX > CLOCK_SKEW_FUTURE_MS_MAX) {
  throw new Error("HTTP_SIGNATURE_SKEW_MS_MAX must not exceed CLOCK_SKEW_FUTURE_MS_MAX");
}

export function heartbeatRoute(registry: Registry): Hono {
  const app = new Hono();
  app.post("/v1/agents/:id/heartbeat", (c) => {
    const id = agentParam(c);
    return registry.telemetry.inSpan(names.SPAN_REGISTRY_HEARTBEAT, registry.base, async (span) => {
      const nowMs = registry.now();
      const { verified: checked } = await signedByAgent(c, id, span, {
        store: registry.store,
        telemetry: registry.telemetry,
        base: registry.base,
        authorities: registry.authorities,
        nowMs,
        bodyBytesMax: HEARTBEAT_BODY_BYTES_MAX,
      });
      const charge = await chargeHeartbeat(registry.store, id, nowMs);
      if (!charge.allowed) {
        span.setAttribute(names.ATTR_RATE_LIMIT_SCOPE, "heartbeat");
        registry.telemetry.rateLimitRefusals.add(1, {
          ...registry.base,
          [names.ATTR_RATE_LIMIT_SCOPE]: "heartbeat",
          [names.ATTR_RATE_LIMIT_THROTTLED]: false,
        });
        const seconds = retryAfterSeconds(charge.retryAfterMs);
        throw new Problem(
          "rate-limited",
          `Agent ${id} is over its heartbeat rate limit; retry after ${seconds} s`,
          { "retry-after": String(seconds) },
        );
      }
      // The signer's clock (whole seconds), never further ahead of this region than a delta.
      const ts = Math.min(checked.created * 1000, nowMs + CLOCK_SKEW_FUTURE_MS_MAX);
      // Only an agent with a card has liveness to show: a throwaway key leaves no record.
      const record = parseCardRecord((await registry.store.readIndex([cardKey(id)]))[0]);
      if (record !== null && !record.deleted) {
        registry.liveness.note([{ author: id, ts }], registry.region, nowMs);
      }
      return c.body(null, 204);
    });
  });
  allowOnly(app, "/v1/agents/:id/heartbeat", "POST");
  return app;
}
