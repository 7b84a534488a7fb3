/**
 * A small OTLP/HTTP receiver for tests, served in the test's process on an ephemeral loopback
 * port: it takes what Deno's built-in OpenTelemetry exports (`OTEL_DENO=true` with
 * `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) at /v1/traces, /v1/metrics and /v1/logs, and keeps
 * the spans, metric names and log records, each with the `service.name` of its resource.
 * Protobuf bodies are counted but not decoded (the tests ask for JSON).
 */

export interface ReceivedSpan {
  readonly service: string;
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly attributes: Record<string, unknown>;
}

export interface ReceivedMetric {
  readonly service: string;
  readonly name: string;
}

export interface ReceivedLog {
  readonly service: string;
  readonly body: string;
  readonly traceId: string;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}

interface KeyValue {
  key: string;
  value: AnyValue;
}

/** A resource of any OTLP signal: its attributes, and its scopes under a signal's own key. */
interface Resource {
  readonly resource?: { readonly attributes?: KeyValue[] };
  readonly [scopes: string]: unknown;
}

function valueOf(value: AnyValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return value.boolValue;
}

function attributes(list: KeyValue[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => [key, valueOf(value ?? {})]));
}

/** Every item of a decoded OTLP body, with its resource's service name. */
function items<T>(
  resources: Resource[] = [],
  scopesKey: string,
  itemsKey: string,
): { service: string; item: T }[] {
  const out: { service: string; item: T }[] = [];
  for (const resource of resources) {
    const service = String(attributes(resource.resource?.attributes)["service.name"] ?? "");
    for (const scope of (resource[scopesKey] ?? []) as Record<string, T[]>[]) {
      for (const item of scope[itemsKey] ?? []) out.push({ service, item });
    }
  }
  return out;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly metrics: ReceivedMetric[] = [];
  readonly logs: ReceivedLog[] = [];
  /** Content types of the requests received, per path. */
  readonly contentTypes = new Map<string, Set<string>>();
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => this.#receive(request),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  async #receive(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const type = request.headers.get("content-type") ?? "";
    this.contentTypes.set(path, (this.contentTypes.get(path) ?? new Set()).add(type));
    const text = await request.text();
    if (type.startsWith("application/json")) this.#decode(path, JSON.parse(text));
    return Response.json({});
  }

  // deno-lint-ignore no-explicit-any
  #decode(path: string, body: any): void {
    if (path === "/v1/traces") {
      type Span = {
        name: string;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        attributes?: KeyValue[];
      };
      for (
        const { service, item: span } of items<Span>(body.resourceSpans, "scopeSpans", "spans")
      ) {
        this.spans.push({
          service,
          name: span.name,
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? "",
          attributes: attributes(span.attributes),
        });
      }
    } else if (path === "/v1/metrics") {
      const all = items<{ name: string }>(body.resourceMetrics, "scopeMetrics", "metrics");
      for (const { service, item } of all) {
        this.metrics.push({ service, name: item.name });
      }
    } else if (path === "/v1/logs") {
      type Log = { body?: AnyValue; traceId?: string };
      for (const { service, item } of items<Log>(body.resourceLogs, "scopeLogs", "logRecords")) {
        this.logs.push({
          service,
          body: String(valueOf(item.body ?? {}) ?? ""),
          traceId: item.traceId ?? "",
        });
      }
    }
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}
