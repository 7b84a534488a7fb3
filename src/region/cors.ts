/**
 * CORS for browser agents (docs/protocol.md §12.10): a page served from an allowed origin may
 * call the region with `fetch`. Hono's own `hono/cors` is not used: it answers every `OPTIONS`
 * with 204 and sends `Access-Control-Expose-Headers` and, to preflights, the allowed methods and
 * headers to origins it does not allow; this middleware sends no CORS header at all to those.
 */
import type { MiddlewareHandler } from "hono";

/** Most origins `MESH_CORS_ORIGINS` may list. */
export const CORS_ORIGINS_MAX = 64;
/** How long a browser may cache a preflight's answer, in seconds (Chromium caps it at 7200). */
export const CORS_MAX_AGE_S = 600;
/** Methods the region's routes take. */
export const CORS_ALLOW_METHODS = "GET, POST";
/**
 * Request headers a browser agent may send: the push's media type and the RFC 9421 signed
 * request headers (`Signature`, `Signature-Input`, `Content-Digest`).
 */
export const CORS_ALLOW_HEADERS =
  "content-type, signature, signature-input, content-digest, if-none-match";
/** Response headers a browser agent may read besides the CORS-safelisted ones. */
export const CORS_EXPOSE_HEADERS = "retry-after, www-authenticate, accept-signature, etag";

/**
 * The allowed origins of `MESH_CORS_ORIGINS`: comma-separated exact origins
 * (`scheme://host[:port]`, as browsers send them in `Origin`), or `*` alone for any origin; an
 * empty text allows none. Throws a TypeError naming what is wrong.
 */
export function parseCorsOrigins(text: string): string[] {
  const origins = text.split(",").map((o) => o.trim()).filter((o) => o !== "");
  if (origins.length > CORS_ORIGINS_MAX) {
    throw new TypeError(`lists ${origins.length} origins, at most ${CORS_ORIGINS_MAX}`);
  }
  if (origins.includes("*")) {
    if (origins.length > 1) throw new TypeError("* must stand alone");
    return origins;
  }
  for (const origin of origins) {
    if (!isOrigin(origin)) {
      throw new TypeError(
        `${JSON.stringify(origin)} is not an origin: scheme://host[:port], no path or trailing /`,
      );
    }
  }
  return [...new Set(origins)];
}

function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === text;
  } catch {
    return false;
  }
}

/**
 * Answers preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) with 204 on
 * any path, before routing, so no route's 405 answers them; adds `Access-Control-Allow-Origin`
 * and `Access-Control-Expose-Headers` to every other answer, problem+json included, when the
 * request's `Origin` is allowed. Mount it before every other middleware.
 */
export function corsMiddleware(origins: readonly string[]): MiddlewareHandler {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  return async (c, next) => {
    const origin = c.req.header("origin");
    const allow = origin === undefined || !(any || allowed.has(origin)) ? null : any ? "*" : origin;
    if (c.req.method === "OPTIONS" && origin !== undefined) {
      if (c.req.header("access-control-request-method") !== undefined) {
        return new Response(null, { status: 204, headers: preflightHeaders(allow, any) });
      }
    }
    await next();
    // The answer depends on Origin unless every origin gets the same `*`.
    if (!any) c.res.headers.append("vary", "Origin");
    if (allow === null) return;
    c.res.headers.set("access-control-allow-origin", allow);
    c.res.headers.set("access-control-expose-headers", CORS_EXPOSE_HEADERS);
  };
}

function preflightHeaders(allow: string | null, any: boolean): Headers {
  const headers = new Headers();
  if (!any) headers.set("vary", "Origin");
  if (allow === null) return headers;
  headers.set("access-control-allow-origin", allow);
  headers.set("access-control-allow-methods", CORS_ALLOW_METHODS);
  headers.set("access-control-allow-headers", CORS_ALLOW_HEADERS);
  headers.set("access-control-max-age", String(CORS_MAX_AGE_S));
  return headers;
}
