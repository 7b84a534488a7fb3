/**
 * The mesh's instruments, through `@opentelemetry/api` only. Any SDK (or Deno's built-in
 * OpenTelemetry, `OTEL_DENO=true`) registered globally receives them; with none they are no-ops.
 */
import { type Attributes, metrics, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import * as names from "./names.ts";

export { names };

const SCOPE = "edge-gossip-mesh";
const VERSION = "0.1.0";

/** Instruments of one region instance. Create after the global providers are registered. */
export interface Telemetry {
  readonly deltasIngested: ReturnType<
    ReturnType<typeof metrics.getMeter>["createCounter"]
  >;
  readonly ingestDuration: ReturnType<
    ReturnType<typeof metrics.getMeter>["createHistogram"]
  >;
  readonly viewReadDuration: ReturnType<
    ReturnType<typeof metrics.getMeter>["createHistogram"]
  >;
  /** Runs `work` in a span named `name`; records exceptions and ends the span. */
  inSpan<T>(
    name: string,
    attributes: Attributes,
    work: (span: Span) => Promise<T>,
  ): Promise<T>;
}

export function createTelemetry(): Telemetry {
  const meter = metrics.getMeter(SCOPE, VERSION);
  const tracer = trace.getTracer(SCOPE, VERSION);
  return {
    deltasIngested: meter.createCounter(names.METRIC_DELTAS_INGESTED, {
      description: "Deltas received by this region, by outcome and reject reason.",
      unit: "{delta}",
    }),
    ingestDuration: meter.createHistogram(names.METRIC_INGEST_DURATION, {
      description: "Time to handle one push request, from parsed body to stored deltas.",
      unit: "s",
    }),
    viewReadDuration: meter.createHistogram(names.METRIC_VIEW_READ_DURATION, {
      description: "Time to produce a channel view, including catching up from the store.",
      unit: "s",
    }),
    inSpan(name, attributes, work) {
      return tracer.startActiveSpan(name, { attributes }, async (span) => {
        try {
          return await work(span);
        } catch (error) {
          span.recordException(error as Error);
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: (error as Error).message,
          });
          span.setAttribute(names.ATTR_ERROR_TYPE, (error as Error).name);
          throw error;
        } finally {
          span.end();
        }
      });
    },
  };
}
