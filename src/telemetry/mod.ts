/**
 * The mesh's instruments, through `@opentelemetry/api` only. Any SDK (or Deno's built-in
 * OpenTelemetry, `OTEL_DENO=true`) registered globally receives them; with none they are no-ops.
 */
import {
  type Attributes,
  type Counter,
  type Histogram,
  metrics,
  type Span,
  SpanStatusCode,
  trace,
  type UpDownCounter,
} from "@opentelemetry/api";
import * as names from "./names.ts";

export { names };

const SCOPE = "edge-gossip-mesh";
const VERSION = "0.1.0";

/** Instruments of one region instance. Create after the global providers are registered. */
export interface Telemetry {
  readonly deltasIngested: Counter;
  readonly ingestDuration: Histogram;
  readonly viewReadDuration: Histogram;
  readonly fanOutDeltas: Counter;
  readonly syncDeltas: Counter;
  readonly syncPenalties: Counter;
  readonly heartbeatRtt: Histogram;
  readonly rateLimitRefusals: Counter;
  readonly registryIndexed: Counter;
  readonly registryDiscoverDuration: Histogram;
  readonly agentSignatureRefusals: Counter;
  readonly topicSubscribers: UpDownCounter;
  readonly topicDelivered: Counter;
  readonly topicDropped: Counter;
  readonly proposalTallyDuration: Histogram;
  /** Runs `work` in a span named `name`; records exceptions and ends the span. */
  inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T>;
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
    fanOutDeltas: meter.createCounter(names.METRIC_FANOUT_DELTAS, {
      description: "Deltas this region's leader relayed to peer regions (acknowledged).",
      unit: "{delta}",
    }),
    syncDeltas: meter.createCounter(names.METRIC_SYNC_DELTAS, {
      description: "Deltas moved by anti-entropy, by direction (pull or push).",
      unit: "{delta}",
    }),
    syncPenalties: meter.createCounter(names.METRIC_SYNC_PENALTIES, {
      description:
        "Anti-entropy sessions abandoned because the peer broke a bound or the protocol.",
      unit: "{session}",
    }),
    heartbeatRtt: meter.createHistogram(names.METRIC_HEARTBEAT_RTT, {
      description: "Round-trip time of heartbeats to peer regions that answered.",
      unit: "s",
    }),
    rateLimitRefusals: meter.createCounter(names.METRIC_RATE_LIMIT_REFUSALS, {
      description:
        "Push requests (scope address) and deltas (scope author) refused by a rate limit.",
      unit: "{refusal}",
    }),
    registryIndexed: meter.createCounter(names.METRIC_REGISTRY_INDEXED, {
      description: "_registry deltas the discovery index examined, by outcome.",
      unit: "{delta}",
    }),
    registryDiscoverDuration: meter.createHistogram(names.METRIC_REGISTRY_DISCOVER_DURATION, {
      description: "Time to answer one GET /v1/agents, including catching the index up.",
      unit: "s",
    }),
    agentSignatureRefusals: meter.createCounter(names.METRIC_AGENT_SIGNATURE_REFUSALS, {
      description: "Signed agent requests refused (401 or 403), by what the check found.",
      unit: "{request}",
    }),
    topicSubscribers: meter.createUpDownCounter(names.METRIC_TOPIC_SUBSCRIBERS, {
      description: "Topic subscribers (SSE streams) this instance holds, by subject.",
      unit: "{subscriber}",
    }),
    topicDelivered: meter.createCounter(names.METRIC_TOPIC_DELIVERED, {
      description: "Topic messages sent to SSE subscribers, by subject.",
      unit: "{message}",
    }),
    topicDropped: meter.createCounter(names.METRIC_TOPIC_DROPPED, {
      description: "SSE subscribers dropped for falling behind their bounded buffer.",
      unit: "{subscriber}",
    }),
    proposalTallyDuration: meter.createHistogram(names.METRIC_PROPOSAL_TALLY_DURATION, {
      description: "Time to answer one GET /v1/proposals/{id}: catch up, tally, page of ballots.",
      unit: "s",
    }),
    inSpan(name, attributes, work) {
      return tracer.startActiveSpan(name, { attributes }, async (span) => {
        try {
          return await work(span);
        } catch (error) {
          span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          span.setAttribute(names.ATTR_ERROR_TYPE, (error as Error).name);
          throw error;
        } finally {
          span.end();
        }
      });
    },
  };
}
