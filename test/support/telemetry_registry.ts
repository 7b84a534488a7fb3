/**
 * Reads docs/telemetry/registry.yaml into the sets of declared names, and collects what a
 * scenario emits (spans, metrics with data points, log events) with real SDK providers.
 */
import { context, metrics, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { parse } from "yaml";
import { configureLog } from "../../src/telemetry/log.ts";
import { AsyncLocalContextManager } from "./async_context.ts";

export interface Registry {
  readonly spans: Set<string>;
  readonly metrics: Set<string>;
  readonly attributes: Set<string>;
  /** Log event names (`type: event` groups). */
  readonly events: Set<string>;
}

interface Group {
  id: string;
  type: string;
  name?: string;
  metric_name?: string;
  attributes?: { id?: string; ref?: string }[];
}

export async function loadRegistry(): Promise<Registry> {
  const url = new URL("../../docs/telemetry/registry.yaml", import.meta.url);
  const { groups } = parse(await Deno.readTextFile(url)) as { groups: Group[] };
  const registry: Registry = {
    spans: new Set(),
    metrics: new Set(),
    attributes: new Set(),
    events: new Set(),
  };
  for (const group of groups) {
    if (group.type === "event" && group.name) registry.events.add(group.name);
    if (group.type === "span") registry.spans.add(group.id.replace(/^span\./, ""));
    if (group.type === "metric" && group.metric_name) registry.metrics.add(group.metric_name);
    for (const attribute of group.attributes ?? []) {
      if (attribute.id) registry.attributes.add(attribute.id);
    }
  }
  return registry;
}

/** One finished span, for assertions on values and on how spans nest and link. */
export interface SpanRecord {
  readonly name: string;
  readonly attributes: Record<string, unknown>;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  readonly links: readonly { traceId: string; spanId: string }[];
}

/** What a scenario emitted, and every name or attribute it emitted that the registry lacks. */
export interface Emitted {
  readonly spans: Set<string>;
  /** Metrics with at least one data point. */
  readonly metrics: Set<string>;
  readonly spanRecords: SpanRecord[];
  /** Log events written, and every line as parsed. */
  readonly events: Set<string>;
  readonly logLines: Record<string, unknown>[];
  readonly undeclared: string[];
}

class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Runs `scenario` with real OpenTelemetry SDK providers registered globally (in-memory span
 * exporter, collecting metric reader, an AsyncLocalStorage context manager so spans nest) and the
 * log lines captured (level debug), then checks every span, metric, attribute and log event it
 * emitted against the registry. Instruments must be created inside the scenario.
 */
export async function collectTelemetry(scenario: () => Promise<void>): Promise<Emitted> {
  const registry = await loadRegistry();
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  if (
    !trace.setGlobalTracerProvider(tracerProvider) ||
    !metrics.setGlobalMeterProvider(meterProvider) ||
    !context.setGlobalContextManager(new AsyncLocalContextManager())
  ) {
    throw new Error("Cannot collect telemetry as global providers are already registered");
  }
  const logLines: Record<string, unknown>[] = [];
  const previousLog = configureLog({
    level: "debug",
    sink: (line) => logLines.push(JSON.parse(line)),
  });
  try {
    await scenario();
    const emitted: Emitted = {
      spans: new Set(),
      metrics: new Set(),
      spanRecords: [],
      events: new Set(logLines.map((l) => String(l.event))),
      logLines,
      undeclared: [],
    };
    for (const event of emitted.events) {
      if (!registry.events.has(event)) emitted.undeclared.push(`event ${event}`);
    }
    for (const span of exporter.getFinishedSpans()) {
      emitted.spans.add(span.name);
      emitted.spanRecords.push({
        name: span.name,
        attributes: { ...span.attributes },
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        parentSpanId: span.parentSpanContext?.spanId ?? null,
        links: span.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
      });
      if (!registry.spans.has(span.name)) emitted.undeclared.push(`span ${span.name}`);
      for (const key of Object.keys(span.attributes)) {
        if (!registry.attributes.has(key)) {
          emitted.undeclared.push(`attribute ${key} of ${span.name}`);
        }
      }
    }
    const { resourceMetrics } = await reader.collect();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        const name = metric.descriptor.name;
        if (metric.dataPoints.length > 0) emitted.metrics.add(name);
        if (!registry.metrics.has(name)) emitted.undeclared.push(`metric ${name}`);
        for (const point of metric.dataPoints) {
          for (const key of Object.keys(point.attributes)) {
            if (!registry.attributes.has(key)) {
              emitted.undeclared.push(`attribute ${key} of ${name}`);
            }
          }
        }
      }
    }
    return emitted;
  } finally {
    configureLog(previousLog);
    trace.disable();
    metrics.disable();
    context.disable();
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  }
}
