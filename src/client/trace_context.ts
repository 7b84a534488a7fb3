/**
 * The W3C `traceparent` an agent sends with each request, so the regions' spans for it (the
 * push, its fan-out, the other regions' ingest of it) form one trace that starts at the agent.
 * Taken, in this order, from: the `traceparent` the caller passes; the span of the OpenTelemetry
 * context the caller passes; the active span, when the agent's process runs an OpenTelemetry SDK;
 * else a new trace (random ids, sampled), so a trace starts here even without one.
 */
import { type Context, context as otel, trace } from "@opentelemetry/api";

/** Where a request's trace comes from (see the module doc); both optional. */
export interface TraceOptions {
  /** A W3C `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`) to continue. */
  readonly traceparent?: string;
  /** An OpenTelemetry context whose span the request continues (default: the active one). */
  readonly context?: Context;
}

/** The request header carrying it. */
export const TRACEPARENT_HEADER = "traceparent";

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

function randomHex(bytes: number): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A `traceparent` starting a new sampled trace. */
export function newTraceparent(): string {
  return `00-${randomHex(16)}-${randomHex(8)}-01`;
}

/**
 * The `traceparent` to send (see the module doc). Throws a TypeError when the caller's
 * `traceparent` is not a valid version-00 value.
 */
export function traceparentFor(options: TraceOptions = {}): string {
  if (options.traceparent !== undefined) {
    if (!TRACEPARENT.test(options.traceparent)) {
      throw new TypeError(
        `traceparent must be 00-<32 hex>-<16 hex>-<2 hex> with non-zero ids, got ${
          JSON.stringify(options.traceparent)
        }`,
      );
    }
    return options.traceparent;
  }
  const span = trace.getSpanContext(options.context ?? otel.active());
  if (span !== undefined && trace.isSpanContextValid(span)) {
    const flags = (span.traceFlags & 1).toString(16).padStart(2, "0");
    return `00-${span.traceId}-${span.spanId}-${flags}`;
  }
  return newTraceparent();
}
