/**
 * `POST /v1/deltas`: charge the client address, read the push, run the ingest pipeline with the
 * author budgets, answer one result per delta in input order (docs/protocol.md §12.1).
 */
import { type Context, Hono } from "hono";
import type { Span } from "@opentelemetry/api";
import type { Delta } from "../protocol/delta.ts";
import { INBOX_CHANNEL_PREFIX } from "../protocol/message_kinds.ts";
import { type Charge, retryAfterSeconds } from "../guard/rate_limiter.ts";
import { PUSH_BYTES_MAX, PUSH_DELTAS_MAX } from "../protocol/limits.ts";
import type { DeltaResult } from "../protocol/result.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";
import type { RegionDeps } from "./deps.ts";
import { ingest } from "./ingest.ts";
import { Problem } from "./problem.ts";
import { readJsonBody, requireJson } from "./read_body.ts";

export function pushRoute(deps: RegionDeps): Hono {
  const onlyDeltas = (d: Delta) => {
    if (d.kind !== undefined) {
      return "topic and direct messages go to /v1/topics/{t} and /v1/messages";
    }
    if (!d.channel.startsWith(INBOX_CHANNEL_PREFIX)) return null;
    return "acknowledgements go to POST /v1/agents/{id}/inbox/ack, signed by the mailbox owner";
  };
  return new Hono().post("/v1/deltas", pushHandler(deps, "deltas", onlyDeltas));
}

/**
 * The handler of an agent push route: charge the client address, read `{<field>: [...]}`, ingest
 * (refusing `wrong_route` what `accepts` does not take), answer one result per envelope.
 * `/v1/deltas`, `/v1/topics/{t}` and `/v1/messages` are this handler with their own field.
 */
export function pushHandler(
  deps: RegionDeps,
  field: string,
  accepts: (delta: Delta, c: Context) => string | null,
): (c: Context) => Promise<Response> {
  const { telemetry, limiter, base, now } = deps;
  return (c) =>
    telemetry.inSpan(names.SPAN_PUSH, base, async (span) => {
      const address = await chargeAddress(deps, c, span);
      requireJson(c.req.raw);
      const envelopes = pushedEnvelopes(await readJsonBody(c.req.raw, PUSH_BYTES_MAX), field);
      const started = performance.now();
      const nowMs = now();
      const route = (d: Delta) => accepts(d, c);
      const { results, signers } = await ingestPush(deps, envelopes, nowMs, route);
      limiter.observe(address, results, signers, nowMs);
      telemetry.ingestDuration.record((performance.now() - started) / 1000, base);
      const counts = countOutcomes(results, telemetry, base);
      span.setAttributes({
        [names.ATTR_PUSH_DELTAS]: results.length,
        [names.ATTR_PUSH_ACCEPTED]: counts.accepted,
        [names.ATTR_PUSH_DUPLICATE]: counts.duplicate,
        [names.ATTR_PUSH_REJECTED]: counts.rejected,
        [names.ATTR_PUSH_RATE_LIMITED]: results.filter((r) =>
          r.status === "rejected" && r.reason === "rate_limited"
        ).length,
      });
      return c.json({ results });
    });
}

/**
 * Charges one request to the client's address budget (the push budget: every agent route that
 * writes or scans pays it); throws 429 with `Retry-After` when it is spent. The address, charged.
 */
export async function chargeAddress(deps: RegionDeps, c: Context, span: Span): Promise<string> {
  const { limiter, telemetry, base, now } = deps;
  const address = deps.clientAddress(c);
  const charge = await limiter.chargePush(address, now());
  if (!charge.allowed) {
    refused(telemetry, base, "address", charge);
    span.setAttribute(names.ATTR_RATE_LIMIT_SCOPE, "address");
    const seconds = retryAfterSeconds(charge.retryAfterMs);
    throw new Problem(
      "rate-limited",
      `This client address is over its push rate limit; retry after ${seconds} s`,
      { "retry-after": String(seconds) },
    );
  }
  return address;
}

/** Ingests an agent's push under the author budgets (refusing `wrong_route` what `route` does not take); tells the mesh when something was stored. */
export async function ingestPush(
  deps: RegionDeps,
  envelopes: unknown[],
  nowMs: number,
  route: (delta: Delta) => string | null,
) {
  const { limiter, telemetry, base } = deps;
  const outcome = await ingest(envelopes, deps.store, deps.verify, nowMs, {
    attributeInvalid: true,
    route,
    admission: deps.admission,
    telemetry,
    onAdmitted: deps.onAdmitted,
    admit: async (deltas) => {
      const charges = await limiter.chargeDeltas(deltas.map((d) => d.author), nowMs);
      for (const ch of charges) if (!ch.allowed) refused(telemetry, base, "author", ch);
      return charges;
    },
    release: (deltas) => limiter.refundDeltas(deltas.map((d) => d.author), nowMs),
  });
  const stored = [...outcome.accepted, ...outcome.evidence];
  if (stored.length > 0) await deps.onStored(stored);
  return outcome;
}

/** Counts one refusal by the `scope` bucket. */
function refused(
  telemetry: Telemetry,
  base: Record<string, string>,
  scope: "address" | "author",
  charge: Charge,
): void {
  telemetry.rateLimitRefusals.add(1, {
    ...base,
    [names.ATTR_RATE_LIMIT_SCOPE]: scope,
    [names.ATTR_RATE_LIMIT_THROTTLED]: charge.throttled,
  });
}

/** The array of a push body `{"<field>": [...]}`, checked for shape and count. */
function pushedEnvelopes(body: unknown, field: string): unknown[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new Problem("invalid-request", `Push body must be an object {"${field}": [...]}`);
  }
  const { [field]: deltas, ...extra } = body as Record<string, unknown>;
  const unknownFields = Object.keys(extra);
  if (unknownFields.length > 0) {
    throw new Problem(
      "invalid-request",
      `Unknown field in push body: ${JSON.stringify(unknownFields[0])}`,
    );
  }
  if (!Array.isArray(deltas)) {
    throw new Problem(
      "invalid-request",
      `Push body must have "${field}": an array of envelopes`,
    );
  }
  if (deltas.length > PUSH_DELTAS_MAX) {
    throw new Problem(
      "payload-too-large",
      `A push may carry at most ${PUSH_DELTAS_MAX} envelopes, got ${deltas.length}`,
    );
  }
  return deltas;
}

function countOutcomes(
  results: readonly DeltaResult[],
  telemetry: Telemetry,
  base: Record<string, string>,
): Record<DeltaResult["status"], number> {
  const counts = { accepted: 0, duplicate: 0, rejected: 0 };
  for (const r of results) {
    counts[r.status]++;
    telemetry.deltasIngested.add(1, {
      ...base,
      [names.ATTR_ORIGIN]: "agent",
      [names.ATTR_OUTCOME]: r.status,
      ...(r.status === "rejected" ? { [names.ATTR_REASON]: r.reason } : {}),
    });
  }
  return counts;
}
