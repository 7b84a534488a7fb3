/** Reads docs/telemetry/registry.yaml into the sets of declared names. */
import { metrics, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { parse } from "yaml";

export interface Registry {
  readonly spans: Set<string>;
  readonly metrics: Set<string>;
  readonly attributes: Set<string>;
}

interface Group {
  id: string;
  type: string;
  metric_name?: string;
  attributes?: { id?: string; ref?: string }[];
}

export async function loadRegistry(): Promise<Registry> {
  const url = new URL("../../docs/telemetry/registry.yaml", import.meta.url);
  const { groups } = parse(await Deno.readTextFile(url)) as { groups: Group[] };
  const registry: Registry = { spans: new Set(), metrics: new Set(), attributes: new Set() };
  for (const group of groups) {
    if (group.type === "span") registry.spans.add(group.id.replace(/^span\./, ""));
    if (group.type === "metric" && group.metric_name) registry.metrics.add(group.metric_name);
    for (const attribute of group.attributes ?? []) {
      if (attribute.id) registry.attributes.add(attribute.id);
    }
  }
  return registry;
}

/** What a scenario emitted, and every name or attribute it emitted that the registry lacks. */
export interface Emitted {
  readonly spans: Set<string>;
  readonly metrics: Set<string>;
  /** Spans with their attributes, for assertions on values. */
  readonly spanRecords: { name: string; attributes: Record<string, unknown> }[];
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
 * exporter, collecting metric reader), then checks every span, metric and attribute it emitted
 * against the registry. Instruments must be created inside the scenario.
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
    !trace.setGlobalTracerProvider(tracerProvider) || !metrics.setGlobalMeterProvider(meterProvider)
  ) {
    throw new Error("Cannot collect telemetry as global providers are already registered");
  }
  try {
    await scenario();
    const emitted: Emitted = {
      spans: new Set(),
      metrics: new Set(),
      spanRecords: [],
      undeclared: [],
    };
    for (const span of exporter.getFinishedSpans()) {
      emitted.spans.add(span.name);
      emitted.spanRecords.push({ name: span.name, attributes: { ...span.attributes } });
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
        emitted.metrics.add(name);
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
    trace.disable();
    metrics.disable();
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  }
}
