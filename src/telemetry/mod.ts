/**
 * The mesh's instruments, through `@opentelemetry/api` only. Any SDK (or Deno's built-in
 * OpenTelemetry, `OTEL_DENO=true`) registered globally receives them; with none they are no-ops.
 * More meters may be given (the region's `/metrics` scrape reader): every instrument then
 * records into each of them.
 */
import {
  type Attributes,
  type Context,
  context,
  type Counter,
  type Gauge,
  type Histogram,
  type Link,
  type Meter,
  type MetricOptions,
  metrics,
  type Span,
  SpanStatusCode,
  trace,
  type UpDownCounter,
} from "@opentelemetry/api";
import * as names from "./names.ts";

export { names };
export { log, type Logger } from "./log.ts";
export * from "./http_request.ts";
export * from "./trace_context.ts";

const SCOPE = "edge-gossip-mesh";
const VERSION = "0.1.0";

/** Where a span goes: under `parent` (default: the active context), with `links`. */
export interface SpanPlacement {
  readonly parent?: Context;
  readonly links?: Link[];
}

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
  /** Blob bytes uploaded, served and pulled from peers (src/blobs/). */
  readonly blobBytes: Counter;
  readonly blobPulls: Counter;
  readonly blobCollected: Counter;
  readonly propagationLag: Histogram;
  readonly outboxDepth: Gauge;
  readonly syncRounds: Counter;
  readonly syncBytes: Counter;
  readonly peerPhi: Gauge;
  readonly partitionMinority: Gauge;
  readonly partitionRegions: Gauge;
  readonly leaseEpoch: Gauge;
  readonly leaderChanges: Counter;
  readonly storeDuration: Histogram;
  readonly storeErrors: Counter;
  readonly jobTicks: Counter;
  /** View checkpoints read and written, by outcome (src/views/view_checkpoint.ts). */
  readonly viewCheckpoints: Counter;
  /** Bulk-copy pages asked (by a bootstrapping region) and served, by outcome (§26). */
  readonly bootstrapPages: Counter;
  /** Deltas a bulk copy handed to ingest, by outcome (as mesh.deltas.ingested). */
  readonly bootstrapDeltas: Counter;
  /** Runs `work` in a span named `name`; records exceptions and ends the span. */
  inSpan<T>(
    name: string,
    attributes: Attributes,
    work: (span: Span) => Promise<T>,
    placement?: SpanPlacement,
  ): Promise<T>;
  /** Records a moment (a change of leader or partition state) as a span that ends at once. */
  mark(name: string, attributes: Attributes): void;
}

type Kind = "counter" | "histogram" | "updown" | "gauge";

/**
 * Bucket boundaries of every histogram in seconds, from 1 ms to a minute (the SDK's default ones,
 * 0 to 10,000, suit milliseconds: every duration here would fall in its first bucket).
 */
export const SECONDS_BUCKETS = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** One instrument in every meter: `add` and `record` go to each. */
function instrument(meters: readonly Meter[], kind: Kind, name: string, options: MetricOptions) {
  const each = meters.map((meter) => {
    if (kind === "counter") return meter.createCounter(name, options);
    if (kind === "histogram") {
      const advice = options.unit === "s" ? { explicitBucketBoundaries: SECONDS_BUCKETS } : {};
      return meter.createHistogram(name, { advice, ...options });
    }
    if (kind === "updown") return meter.createUpDownCounter(name, options);
    return meter.createGauge(name, options);
  }) as (Counter & Histogram & Gauge)[];
  if (each.length === 1) return each[0];
  return {
    add: (value: number, attributes?: Attributes) => each.forEach((i) => i.add(value, attributes)),
    record: (value: number, attributes?: Attributes) =>
      each.forEach((i) => i.record(value, attributes)),
  } as Counter & Histogram & Gauge;
}

/**
 * The instruments, in the global meter and in `options.meters` (a scrape reader's), and spans
 * from the global tracer.
 */
export function createTelemetry(options: { meters?: readonly Meter[] } = {}): Telemetry {
  const meters = [metrics.getMeter(SCOPE, VERSION), ...options.meters ?? []];
  const tracer = trace.getTracer(SCOPE, VERSION);
  const meter = {
    createCounter: (name: string, o: MetricOptions) => instrument(meters, "counter", name, o),
    createHistogram: (name: string, o: MetricOptions) => instrument(meters, "histogram", name, o),
    createUpDownCounter: (name: string, o: MetricOptions) => instrument(meters, "updown", name, o),
    createGauge: (name: string, o: MetricOptions) => instrument(meters, "gauge", name, o),
  };
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
    blobBytes: meter.createCounter(names.METRIC_BLOB_BYTES, {
      description: "Blob bytes taken from uploads, sent to readers and pulled from peers.",
      unit: "By",
    }),
    blobPulls: meter.createCounter(names.METRIC_BLOB_PULLS, {
      description: "Blob pulls from one peer region, by outcome (a lying peer counts mismatch).",
      unit: "{pull}",
    }),
    blobCollected: meter.createCounter(names.METRIC_BLOB_COLLECTED, {
      description: "Unreferenced blobs removed and abandoned uploads dropped by the collector.",
      unit: "{record}",
    }),
    ...meshInstruments(meter),
    inSpan(name, attributes, work, placement = {}) {
      const parent = placement.parent ?? context.active();
      const options = { attributes, links: placement.links };
      return tracer.startActiveSpan(name, options, parent, async (span) => {
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
    mark(name, attributes) {
      tracer.startSpan(name, { attributes }).end();
    },
  };
}

/** The instruments of the mesh between regions, the store and the jobs. */
function meshInstruments(meter: Pick<Meter, "createCounter" | "createHistogram" | "createGauge">) {
  return {
    propagationLag: meter.createHistogram(names.METRIC_PROPAGATION_LAG, {
      description: "Time from a relayed delta's signed ts to its arrival here, per peer region.",
      unit: "s",
    }),
    outboxDepth: meter.createGauge(names.METRIC_OUTBOX_DEPTH, {
      description: "Region-log entries a peer region has yet to acknowledge (fan-out backlog).",
      unit: "{entry}",
    }),
    syncRounds: meter.createCounter(names.METRIC_SYNC_ROUNDS, {
      description: "Reconciliation rounds of anti-entropy sessions, per peer.",
      unit: "{round}",
    }),
    syncBytes: meter.createCounter(names.METRIC_SYNC_BYTES, {
      description: "Reconciliation frame bytes (requests and answers) of anti-entropy, per peer.",
      unit: "By",
    }),
    peerPhi: meter.createGauge(names.METRIC_PEER_PHI, {
      description: "Phi-accrual suspicion of each peer region (8 or more: unreachable).",
      unit: "1",
    }),
    partitionMinority: meter.createGauge(names.METRIC_PARTITION_MINORITY, {
      description: "1 while this region reaches fewer than a majority of the mesh, else 0.",
      unit: "1",
    }),
    partitionRegions: meter.createGauge(names.METRIC_PARTITION_REGIONS, {
      description: "Regions this region reaches, itself included.",
      unit: "{region}",
    }),
    leaseEpoch: meter.createGauge(names.METRIC_LEASE_EPOCH, {
      description: "The leader epoch this instance leads under; 0 while it does not lead.",
      unit: "1",
    }),
    leaderChanges: meter.createCounter(names.METRIC_LEADER_CHANGES, {
      description: "Leader leases this instance gained and lost.",
      unit: "{change}",
    }),
    storeDuration: meter.createHistogram(names.METRIC_STORE_DURATION, {
      description: "Time of one regional store operation, by operation.",
      unit: "s",
    }),
    storeErrors: meter.createCounter(names.METRIC_STORE_ERRORS, {
      description: "Regional store operations that failed, by operation and error type.",
      unit: "{error}",
    }),
    jobTicks: meter.createCounter(names.METRIC_JOB_TICKS, {
      description: "Scheduled job ticks, by job and outcome (ran, skipped, failed).",
      unit: "{tick}",
    }),
    viewCheckpoints: meter.createCounter(names.METRIC_VIEW_CHECKPOINTS, {
      description: "View checkpoints read by cold view reads and written by the job, by outcome.",
      unit: "{checkpoint}",
    }),
    bootstrapPages: meter.createCounter(names.METRIC_BOOTSTRAP_PAGES, {
      description: "Bulk-copy pages asked and served, by outcome.",
      unit: "{page}",
    }),
    bootstrapDeltas: meter.createCounter(names.METRIC_BOOTSTRAP_DELTAS, {
      description: "Deltas a bulk copy handed to ingest, by outcome.",
      unit: "{delta}",
    }),
  };
}
