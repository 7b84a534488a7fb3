/**
 * The region's HTTP API as a Hono app: push signed deltas, read views, tail a channel, health.
 * Stateless apart from a bounded view cache; everything durable is in the RegionStore.
 */
import { type Context, Hono } from "hono";
import { verifyEd25519 } from "../crypto/mod.ts";
import {
  CHANNEL_PATTERN,
  CHANNEL_RULE,
  PUSH_BYTES_MAX,
  PUSH_DELTAS_MAX,
  TAIL_LIMIT_DEFAULT,
  TAIL_LIMIT_MAX,
} from "../protocol/limits.ts";
import { ID_PATTERN } from "../protocol/delta.ts";
import { type RegionStore, StoreUnavailableError } from "../store/region_store.ts";
import { createTelemetry, names, type Telemetry } from "../telemetry/mod.ts";
import type { AdmissionPolicy } from "./admission.ts";
import { ChannelViews } from "./channel_views.ts";
import { type ClientAddressFn, defaultClientAddress } from "./client_address.ts";
import type { MeshNode } from "./mesh_node.ts";
import { mountMeshRoutes } from "./peer_routes.ts";
import type { RegionIndex } from "./region_index.ts";
import { type DeltaResult, ingest, type VerifyFn } from "./ingest.ts";
import { Problem } from "./problem.ts";
import { type Charge, RateLimiter, type RateLimits, retryAfterSeconds } from "./rate_limiter.ts";
import type { ReputationPolicy } from "./reputation.ts";
import { readJsonBody, requireJson } from "./read_body.ts";

/** Routes only a region in a topology serves, with the method each takes. */
const MESH_ROUTES: [string, string][] = [
  ["/v1/peer/deltas", "POST"],
  ["/v1/peer/heartbeat", "POST"],
  ["/v1/sync", "POST"],
  ["/v1/sync/fetch", "POST"],
];

/** Seconds a client should wait before retrying after a 503. */
export const STORE_RETRY_AFTER_SECONDS = 1;

/**
 * Largest request header section the region serves, in bytes: each field counted as
 * `name: value` plus CRLF. Above it the region answers 431 problem+json.
 */
export const REQUEST_HEADER_BYTES_MAX = 32_768;
/**
 * The request head (request line and headers) at which `Deno.serve` itself closes the connection
 * with a bare 400 before any handler runs, in bytes (measured on Deno 2.9.6; not configurable).
 * The region's own limit must bite well below it, or an oversized header gets no problem+json.
 */
export const DENO_SERVE_HEAD_BYTES_MAX = 65_536;
if (REQUEST_HEADER_BYTES_MAX > DENO_SERVE_HEAD_BYTES_MAX / 2) {
  throw new Error("REQUEST_HEADER_BYTES_MAX must leave room below DENO_SERVE_HEAD_BYTES_MAX");
}

export interface RegionOptions {
  /** This region's id, reported by `/v1/health`. */
  readonly region: string;
  readonly store: RegionStore;
  /** Signature check; default WebCrypto Ed25519 (noble where WebCrypto lacks it). */
  readonly verify?: VerifyFn;
  /** Wall clock in ms since the epoch; tests pass their own. Default `Date.now`. */
  readonly now?: () => number;
  /** Instruments; default created from the global OpenTelemetry providers. */
  readonly telemetry?: Telemetry;
  /** The mesh, when the region runs in a topology: mounts /v1/peer/*, /v1/sync, /v1/status. */
  readonly mesh?: { readonly node: MeshNode; readonly index: RegionIndex };
  /**
   * Token budgets of `POST /v1/deltas` per client address and per author key; each field
   * defaults to its constant in `rate_limiter.ts`. Region messages (/v1/peer/*) are not limited.
   */
  readonly rateLimits?: Partial<RateLimits>;
  /** Tunables of the local reputation that shrinks budgets; default `reputation.ts`'s constants. */
  readonly reputation?: Partial<ReputationPolicy>;
  /**
   * The client address a push is charged to. Default: the first `X-Forwarded-For` entry when
   * `trustProxy`, else the connection's remote address (Hono's Deno conninfo), else "unknown".
   */
  readonly clientAddress?: (c: Context) => string;
  /** Trust `X-Forwarded-For` (only behind a proxy that overwrites it). Default false. */
  readonly trustProxy?: boolean;
  /**
   * The mesh's per-channel admission policy (`MESH_ADMISSION`, docs/protocol.md §19); the mesh
   * node must be given the same one. Default: every channel open.
   */
  readonly admission?: AdmissionPolicy;
}

export function createRegionApp(options: RegionOptions): Hono {
  const { region, store, admission } = options;
  const verify = options.verify ?? verifyEd25519;
  const now = options.now ?? Date.now;
  const telemetry = options.telemetry ?? createTelemetry();
  const views = new ChannelViews(store);
  const limiter = new RateLimiter(store, options.rateLimits, options.reputation);
  const clientAddress: ClientAddressFn = options.clientAddress ??
    defaultClientAddress(options.trustProxy ?? false);
  const app = new Hono();
  app.use(async (c, next) => {
    const bytes = headerBytes(c.req.raw.headers);
    if (bytes > REQUEST_HEADER_BYTES_MAX) {
      throw new Problem(
        "header-too-large",
        `Request headers may total at most ${REQUEST_HEADER_BYTES_MAX} bytes, got ${bytes}`,
      );
    }
    await next();
  });
  const base = {
    [names.ATTR_REGION]: region,
    [names.ATTR_STORE_KIND]: store.kind,
  };

  app.post(
    "/v1/deltas",
    (c) =>
      telemetry.inSpan(names.SPAN_PUSH, base, async (span) => {
        const address = clientAddress(c);
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
        requireJson(c.req.raw);
        const envelopes = pushedEnvelopes(
          await readJsonBody(c.req.raw, PUSH_BYTES_MAX),
        );
        const started = performance.now();
        const nowMs = now();
        const { results, accepted, signers, evidence } = await ingest(
          envelopes,
          store,
          verify,
          nowMs,
          {
            attributeInvalid: true,
            admission,
            admit: async (deltas) => {
              const charges = await limiter.chargeDeltas(deltas.map((d) => d.author), nowMs);
              for (const ch of charges) if (!ch.allowed) refused(telemetry, base, "author", ch);
              return charges;
            },
            release: (deltas) => limiter.refundDeltas(deltas.map((d) => d.author), nowMs),
          },
        );
        limiter.observe(address, results, signers, nowMs);
        if (accepted.length > 0 || evidence.length > 0) options.mesh?.node.kick();
        telemetry.ingestDuration.record(
          (performance.now() - started) / 1000,
          base,
        );
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
      }),
  );

  app.get("/v1/channels/:channel", (c) => {
    const channel = channelParam(c.req.param("channel"));
    return telemetry.inSpan(
      names.SPAN_VIEW_READ,
      { ...base, [names.ATTR_CHANNEL]: channel },
      async (span) => {
        const started = performance.now();
        const { state, caughtUp } = await views.read(channel);
        const text = state.viewText();
        telemetry.viewReadDuration.record(
          (performance.now() - started) / 1000,
          base,
        );
        span.setAttributes({
          [names.ATTR_VIEW_DELTAS]: state.size,
          [names.ATTR_VIEW_CATCHUP]: caughtUp,
        });
        return c.body(text, 200, { "content-type": "application/json" });
      },
    );
  });

  app.get("/v1/channels/:channel/deltas", (c) => {
    const channel = channelParam(c.req.param("channel"));
    const after = integerQuery(
      c.req.query("after"),
      "after",
      0,
      Number.MAX_SAFE_INTEGER,
      0,
    );
    const limit = integerQuery(
      c.req.query("limit"),
      "limit",
      1,
      TAIL_LIMIT_MAX,
      TAIL_LIMIT_DEFAULT,
    );
    return telemetry.inSpan(
      names.SPAN_TAIL_READ,
      { ...base, [names.ATTR_CHANNEL]: channel },
      async () => {
        const page = await store.listArrivals(channel, after, limit);
        return c.json({
          deltas: page.deltas.map(({ body, sig }) => ({ body, sig })),
          cursor: String(page.cursor),
          more: page.more,
        });
      },
    );
  });

  app.get("/v1/channels/:channel/authors/:author", async (c) => {
    const channel = channelParam(c.req.param("channel"));
    const author = c.req.param("author");
    if (!ID_PATTERN.test(author)) {
      throw new Problem(
        "invalid-request",
        "author must be a 43-character base64url public key",
      );
    }
    const head = await store.getHead(channel, author) ??
      { contiguous: 0, max: 0, count: 0 };
    return c.json({ channel, author, ...head });
  });

  if (options.mesh !== undefined) {
    mountMeshRoutes(app, options.mesh.node, options.mesh.index);
  } else {
    app.get("/v1/status", async (c) => {
      await store.ping();
      return c.json({ region, store: store.kind, mesh: null });
    });
  }

  app.get("/v1/health", async (c) => {
    await store.ping();
    return c.json({ status: "ok", region, store: store.kind });
  });

  const allowed: [string, string][] = [
    ["/v1/deltas", "POST"],
    ["/v1/channels/:channel", "GET"],
    ["/v1/channels/:channel/deltas", "GET"],
    ["/v1/channels/:channel/authors/:author", "GET"],
    ["/v1/health", "GET"],
    ["/v1/status", "GET"],
    ...(options.mesh === undefined ? [] : MESH_ROUTES),
  ];
  for (const [path, allow] of allowed) {
    app.all(path, (c) => {
      throw new Problem("method-not-allowed", `${c.req.method} is not allowed here; use ${allow}`, {
        allow,
      });
    });
  }
  app.notFound((c) => {
    const path = rawPath(c.req.url);
    return new Problem("not-found", `No route for ${c.req.method} ${path}`).toResponse(path);
  });
  app.onError((error, c) => problemFor(error).toResponse(rawPath(c.req.url)));
  return app;
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

/** The request path as sent (percent-encoded), for the problem's `instance`. */
function rawPath(url: string): string {
  return new URL(url).pathname;
}

/** Maps any thrown error to the problem it answers with. */
function problemFor(error: unknown): Problem {
  if (error instanceof Problem) return error;
  if (error instanceof StoreUnavailableError) {
    return new Problem("store-unavailable", error.message, {
      "retry-after": String(STORE_RETRY_AFTER_SECONDS),
    });
  }
  // A bug, not bad input: say so, and leave the details to the logs.
  console.error("Unhandled error in region handler:", error);
  return new Problem(
    "internal-error",
    "The region failed to handle the request",
  );
}

/** The `deltas` array of a push body `{"deltas": [...]}`, checked for shape and count. */
function pushedEnvelopes(body: unknown): unknown[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new Problem(
      "invalid-request",
      'Push body must be an object {"deltas": [...]}',
    );
  }
  const { deltas, ...extra } = body as Record<string, unknown>;
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
      'Push body must have "deltas": an array of envelopes',
    );
  }
  if (deltas.length > PUSH_DELTAS_MAX) {
    throw new Problem(
      "payload-too-large",
      `A push may carry at most ${PUSH_DELTAS_MAX} deltas, got ${deltas.length}`,
    );
  }
  return deltas;
}

/** The header section's size as sent: `name: value` and CRLF per field. */
function headerBytes(headers: Headers): number {
  let bytes = 0;
  // Header values are byte strings: one char is one byte.
  for (const [name, value] of headers) bytes += name.length + value.length + 4;
  return bytes;
}

function channelParam(channel: string): string {
  if (!CHANNEL_PATTERN.test(channel)) {
    throw new Problem(
      "invalid-request",
      `Channel name must match ${CHANNEL_RULE}: ${JSON.stringify(channel)}`,
    );
  }
  return channel;
}

function integerQuery(
  raw: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (raw === undefined) return fallback;
  const value = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) {
    throw new Problem(
      "invalid-request",
      `Query parameter ${name} must be an integer in ${min}..${max}`,
    );
  }
  return value;
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
      [names.ATTR_OUTCOME]: r.status,
      ...(r.status === "rejected" ? { [names.ATTR_REASON]: r.reason } : {}),
    });
  }
  return counts;
}
