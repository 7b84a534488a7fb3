/**
 * W3C Trace Context (`traceparent`) between regions, with `@opentelemetry/api` only: the header
 * is written and read here rather than through the globally registered propagator, which is a
 * no-op unless an SDK installed one (Deno's built-in OpenTelemetry does; a test's SDK may not).
 * So one trace follows a delta from the agent's push through fan-out into every region whatever
 * SDK, if any, the process runs.
 */
import {
  type Context,
  context,
  type Link,
  ROOT_CONTEXT,
  type SpanContext,
  trace,
  TraceFlags,
} from "@opentelemetry/api";

/** The request header carrying the trace context (W3C Trace Context level 1). */
export const TRACEPARENT_HEADER = "traceparent";

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The span context a `traceparent` value names, or null when it names none (absent, malformed,
 * version ff, all-zero ids). A value joined from two headers (`a, b`: some runtimes add their own
 * to one the caller set) is read by its first entry.
 */
export function parseTraceparent(value: string | null | undefined): SpanContext | null {
  const first = value?.split(",")[0].trim().toLowerCase();
  const match = first === undefined ? null : TRACEPARENT.exec(first);
  if (match === null) return null;
  const [, version, traceId, spanId, flags, rest] = match;
  // Version 00 has exactly four fields; a later version may append more (read the four).
  if (version === "ff" || (version === "00" && rest !== undefined)) return null;
  const spanContext: SpanContext = {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return trace.isSpanContextValid(spanContext) ? spanContext : null;
}

/** The `traceparent` value of `spanContext`, or null when it is not a valid one. */
export function formatTraceparent(spanContext: SpanContext | undefined): string | null {
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return null;
  const flags = (spanContext.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, "0");
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/**
 * Headers that carry the active span's context to a peer: `{traceparent}`, or `{}` outside any
 * recorded span (no SDK, or no span active), so requests cost nothing extra then.
 */
export function traceHeaders(active: Context = context.active()): Record<string, string> {
  const value = formatTraceparent(trace.getSpanContext(active));
  return value === null ? {} : { [TRACEPARENT_HEADER]: value };
}

/**
 * Runs `work` in the trace an incoming request's `traceparent` names, so the spans it starts
 * continue the caller's trace. Kept as is when the active context already continues that trace
 * (Deno's built-in `Deno.serve` span does), and when the header names none.
 */
export function continueTrace<T>(traceparent: string | null | undefined, work: () => T): T {
  const incoming = parseTraceparent(traceparent);
  if (incoming === null) return work();
  const active = trace.getSpanContext(context.active());
  if (active !== undefined && active.traceId === incoming.traceId) return work();
  return context.with(trace.setSpanContext(context.active(), incoming), work);
}

/** Runs `work` outside any trace: a job it starts is not filed under the caller's request. */
export function detached<T>(work: () => T): T {
  return context.with(ROOT_CONTEXT, work);
}

/** The active span's context when it is a valid (recorded or propagated) one, else null. */
export function activeSpanContext(): SpanContext | null {
  const spanContext = trace.getSpanContext(context.active());
  return spanContext !== undefined && trace.isSpanContextValid(spanContext) ? spanContext : null;
}

/** Most keys a `TraceMarks` remembers (oldest forgotten first). */
export const TRACE_MARKS_MAX = 4_096;

/**
 * The span contexts under which keys (delta ids) were last seen, bounded: work done later for a
 * key (a fan-out drain sending a delta) continues the trace that brought it in. Only valid
 * contexts are kept, so without tracing it holds nothing.
 */
export class TraceMarks {
  readonly #marks = new Map<string, SpanContext>();

  /** Remembers the active span's context for each of `keys` (nothing outside a span). */
  mark(keys: Iterable<string>): void {
    const spanContext = activeSpanContext();
    if (spanContext === null) return;
    for (const key of keys) {
      this.#marks.delete(key);
      this.#marks.set(key, spanContext);
    }
    for (const oldest of this.#marks.keys()) {
      if (this.#marks.size <= TRACE_MARKS_MAX) break;
      this.#marks.delete(oldest);
    }
  }

  /**
   * Where work for `keys` goes (a fan-out send of those deltas): under the span that marked the
   * first of them that has a mark, linked to the active span when that is in another trace (the
   * drain that sends it); undefined when none has one. `keys` is read lazily, up to that one.
   */
  placementFor(keys: Iterable<string | null>): { parent: Context; links: Link[] } | undefined {
    if (this.#marks.size === 0) return undefined;
    for (const key of keys) {
      const marked = key === null ? undefined : this.#marks.get(key);
      if (marked === undefined) continue;
      const active = activeSpanContext();
      const links = active !== null && active.traceId !== marked.traceId
        ? [{ context: active }]
        : [];
      return { parent: trace.setSpanContext(ROOT_CONTEXT, marked), links };
    }
    return undefined;
  }

  get size(): number {
    return this.#marks.size;
  }
}
