/**
 * The region's HTTP API as a Hono app: push signed deltas, read views, tail a channel, health.
 * Stateless apart from a bounded view cache; everything durable is in the RegionStore.
 */
import { type Context, Hono } from "hono";
import type { AdmissionPolicy } from "../guard/admission.ts";
import { defaultClientAddress } from "../guard/client_address.ts";
import { RateLimiter, type RateLimits } from "../guard/rate_limiter.ts";
import type { ReputationPolicy } from "../guard/reputation.ts";
import { verifyEd25519 } from "../crypto/ed25519.ts";
import type { Delta } from "../protocol/delta.ts";
import type { VerifyFn } from "../protocol/result.ts";
import { type RegionStore, StoreUnavailableError } from "../store/region_store.ts";
import { createTelemetry, log, names, type Telemetry } from "../telemetry/mod.ts";
import { requestTelemetry } from "../telemetry/http_request.ts";
import type { RegionDeps } from "./deps.ts";
import { channelListRoute } from "./channel_list_route.ts";
import { channelRoutes } from "./channel_routes.ts";
import { ChannelViews } from "../views/channel_views.ts";
import { corsMiddleware } from "./cors.ts";
import { Problem } from "./problem.ts";
import { pushRoute } from "./push_route.ts";
import { isSigned } from "./agent_request.ts";

/** The routes of the region itself, with the method each takes. */
const REGION_ROUTES: [string, string][] = [
  ["/v1/deltas", "POST"],
  ["/v1/channels", "GET"],
  ["/v1/channels/:channel", "GET"],
  ["/v1/channels/:channel/deltas", "GET"],
  ["/v1/channels/:channel/authors/:author", "GET"],
  ["/v1/health", "GET"],
  ["/v1/status", "GET"],
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
  /**
   * Called with what a push stored, before it is answered (the mesh wakes its fan-out, the
   * registry notes liveness and indexes cards). Must not throw. Default: nothing.
   */
  readonly onStored?: (stored: readonly Delta[]) => void | Promise<void>;
  /**
   * Called with a push's verified and admitted deltas just before they are written (the mesh
   * forwards them to peers while they commit). Must not throw. Default: nothing.
   */
  readonly onAdmitted?: (deltas: readonly Delta[]) => void;
  /**
   * The document `GET /v1/status` answers (the status feature's, src/status/, which checks the
   * request and throws a `Problem` for a bad one). Default: the region, its store kind and
   * `mesh: null`.
   */
  readonly status?: (c: Context) => Promise<unknown>;
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
  /**
   * Origins whose pages may call the region from a browser (`MESH_CORS_ORIGINS`, `cors.ts`):
   * exact origins, or `["*"]` for any. Default none: no CORS headers, preflights answer 405.
   */
  readonly corsOrigins?: readonly string[];
  /**
   * Features' routes built on the region's shared parts (store, verify, rate limits, ingest
   * hooks): topics, mailboxes. Mounted after the region's own routes.
   */
  readonly routes?: readonly ((deps: RegionDeps) => Hono)[];
  /**
   * The region's public authorities (`host[:port]`) that signed agent requests must name; empty
   * (the default): any, for a region outside a mesh.
   */
  readonly authorities?: readonly string[];
}

export function createRegionApp(options: RegionOptions): Hono {
  const deps = regionDeps(options);
  const { region, store } = deps;
  const app = new Hono();
  const logger = log.with({ region });
  app.use(requestTelemetry(logger)); // continues a caller's `traceparent`; logs at debug
  // First, so that its headers reach every answer, the header check's problem+json included.
  if ((options.corsOrigins ?? []).length > 0) app.use(corsMiddleware(options.corsOrigins!));
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
  // An answer to a signed request depends on who signed it: no shared cache may keep it (RFC 9111
  // exempts only Authorization-authenticated answers; a Signature header is not one).
  app.use(async (c, next) => {
    await next();
    if (isSigned(c)) c.res.headers.set("cache-control", "private, no-store");
  });
  app.route("/", pushRoute(deps));
  app.route("/", channelListRoute(deps));
  app.route("/", channelRoutes(deps));
  for (const routes of options.routes ?? []) app.route("/", routes(deps));
  const status = options.status ?? (async () => {
    await store.ping();
    return { region, store: store.kind, mesh: null };
  });
  app.get("/v1/status", async (c) => c.json(await status(c)));
  app.get("/v1/health", async (c) => {
    await store.ping();
    return c.json({ status: "ok", region, store: store.kind });
  });
  for (const [path, allow] of REGION_ROUTES) allowOnly(app, path, allow);
  app.notFound((c) => {
    const path = rawPath(c.req.url);
    return new Problem("not-found", `No route for ${c.req.method} ${path}`).toResponse(path);
  });
  app.onError((error, c) => {
    const fields = { method: c.req.method, path: rawPath(c.req.url) };
    return problemFor(error, () => logger.error(names.EVENT_HTTP_FAILED, { ...fields, error }))
      .toResponse(fields.path);
  });
  return app;
}

/** Answers 405 problem+json, with `Allow`, for any other method on `path`. */
export function allowOnly(app: Hono, path: string, allow: string): void {
  app.all(path, (c) => {
    throw new Problem("method-not-allowed", `${c.req.method} is not allowed here; use ${allow}`, {
      allow,
    });
  });
}

function regionDeps(options: RegionOptions): RegionDeps {
  const { region, store } = options;
  const telemetry = options.telemetry ?? createTelemetry();
  const base = { [names.ATTR_REGION]: region, [names.ATTR_STORE_KIND]: store.kind };
  return {
    region,
    store,
    verify: options.verify ?? verifyEd25519,
    now: options.now ?? Date.now,
    telemetry,
    views: new ChannelViews(store, { telemetry, base }),
    limiter: new RateLimiter(store, options.rateLimits, options.reputation),
    clientAddress: options.clientAddress ?? defaultClientAddress(options.trustProxy ?? false),
    admission: options.admission,
    authorities: (options.authorities ?? []).map((a) => a.toLowerCase()),
    onStored: options.onStored ?? (() => {}),
    onAdmitted: options.onAdmitted,
    base,
  };
}

/** The request path as sent (percent-encoded), for the problem's `instance`. */
function rawPath(url: string): string {
  return new URL(url).pathname;
}

/** Maps any thrown error to the problem it answers with. */
function problemFor(error: unknown, logBug: () => void): Problem {
  if (error instanceof Problem) return error;
  if (error instanceof StoreUnavailableError) {
    return new Problem("store-unavailable", error.message, {
      "retry-after": String(STORE_RETRY_AFTER_SECONDS),
    });
  }
  // A bug, not bad input: say so, and leave the details to the logs.
  logBug();
  return new Problem(
    "internal-error",
    "The region failed to handle the request",
  );
}

/** The header section's size as sent: `name: value` and CRLF per field. */
function headerBytes(headers: Headers): number {
  let bytes = 0;
  // Header values are byte strings: one char is one byte.
  for (const [name, value] of headers) bytes += name.length + value.length + 4;
  return bytes;
}
