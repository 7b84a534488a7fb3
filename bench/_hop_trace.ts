/**
 * The stage breakdown of bench/hop.ts: reads OTLP/JSON trace exports into span records and cuts
 * each sample's hop (eu-1 → us-1) into stages from the spans the regions emitted in its window.
 */
import * as names from "../src/telemetry/names.ts";

export interface SpanRecord {
  readonly service: string;
  readonly name: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  /** Wall clock, ms since the epoch (sub-ms precision). */
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Record<string, string | number | boolean>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  name: string;
  spanId: string;
  parentSpanId?: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: OtlpAttribute[];
}
interface OtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

const valueOf = (v: OtlpValue) =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ??
    v.doubleValue ?? v.boolValue ?? "";
const attributesOf = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));
/** ns since the epoch (a decimal string) to ms, keeping the µs. */
const nanosToMs = (ns: string) => Number(BigInt(ns) / 1000n) / 1000;

/** The spans of one OTLP/JSON `ExportTraceServiceRequest`. */
export function spansOf(body: OtlpTraces): SpanRecord[] {
  return (body.resourceSpans ?? []).flatMap((rs) => {
    const service = String(attributesOf(rs.resource?.attributes)["service.name"] ?? "");
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => ({
        service,
        name: s.name,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId ?? "",
        startMs: nanosToMs(s.startTimeUnixNano),
        endMs: nanosToMs(s.endTimeUnixNano),
        attributes: attributesOf(s.attributes),
      }))
    );
  });
}

/**
 * The stage boundaries of the hop, in order; each stage is the time from the previous mark to its
 * own. The message leaves eu-1 either by eager forwarding (sent from the push's ingest, between
 * its checks and its commit) or by a drain of the log (after the commit, a wake-up and a log
 * read); `drained` below splits the second kind further.
 */
const STAGES = [
  "origin_verified", // eu-1: the push's checks (parse, quarantine, signature) ended
  "message_ready", // eu-1: the message to us-1 was in hand (mesh.fanout.send started)
  "request_sent", // eu-1: fetch called (Deno's client span), else = message_ready
  "peer_received", // us-1: the /v1/peer/deltas handler started
  "peer_checked", // us-1: the region message checked (signature, epoch), the ingest started
  "peer_verified", // us-1: the ingest's checks ended (parse, the delta's signature verified)
  "peer_committed", // us-1: the ingest's store commit ended
  "readable", // us-1: the first view read that folded it in ended
  "seen", // this poller had the answer
] as const;

interface Window {
  readonly started: number;
  readonly seen: number;
  readonly channel: string;
}

/** Per stage, p50/p90/p99 over the samples whose every mark was found; and how many were. */
export function breakdown(spans: readonly SpanRecord[], windows: readonly Window[]) {
  const byParent = new Map<string, SpanRecord[]>();
  for (const s of spans) byParent.set(s.parentSpanId, [...(byParent.get(s.parentSpanId) ?? []), s]);
  const childOf = (parent: SpanRecord | undefined, name: string) =>
    parent === undefined ? undefined : byParent.get(parent.spanId)?.find((s) => s.name === name);
  const inWindow = (w: Window, s: SpanRecord) => s.startMs >= w.started - 1 && s.startMs <= w.seen;
  const drained: number[][] = []; // [commit end, drain start, send start] of drained samples
  let eager = 0;
  const marks = windows.map((w) => {
    const at = (service: string, name: string, ok: (s: SpanRecord) => boolean = () => true) =>
      spans.find((s) => s.service === service && s.name === name && inWindow(w, s) && ok(s));
    const push = at("eu-1", names.SPAN_PUSH);
    const send = at(
      "eu-1",
      names.SPAN_FANOUT_SEND,
      (s) => s.attributes[names.ATTR_PEER] === "us-1",
    );
    const drain = spans.find((s) =>
      s.spanId === send?.parentSpanId && s.name === names.SPAN_FANOUT
    );
    const committed = childOf(push, names.SPAN_INGEST_COMMIT)?.endMs;
    if (drain === undefined) eager++;
    else if (committed !== undefined) drained.push([committed, drain.startMs, send!.startMs]);
    const fetchSpan = byParent.get(send?.spanId ?? "")?.[0];
    const inbox = at(
      "us-1",
      names.SPAN_PEER_DELTAS,
      (s) => Number(s.attributes[names.ATTR_PUSH_ACCEPTED]) > 0,
    );
    const read = at(
      "us-1",
      names.SPAN_VIEW_READ,
      (s) =>
        s.attributes[names.ATTR_CHANNEL] === w.channel &&
        Number(s.attributes[names.ATTR_VIEW_CATCHUP]) > 0,
    );
    const found = [
      childOf(push, names.SPAN_INGEST_VERIFY)?.endMs,
      send?.startMs,
      fetchSpan?.startMs ?? send?.startMs,
      inbox?.startMs,
      childOf(inbox, names.SPAN_INGEST_VERIFY)?.startMs,
      childOf(inbox, names.SPAN_INGEST_VERIFY)?.endMs,
      childOf(inbox, names.SPAN_INGEST_COMMIT)?.endMs,
      read?.endMs,
      w.seen,
    ];
    return found.some((m) => m === undefined) ? null : [w.started, ...found as number[]];
  }).filter((m): m is number[] => m !== null);
  const q = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const at = (p: number) => +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(3);
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
  };
  return {
    samples: windows.length,
    complete: marks.length,
    ...Object.fromEntries(STAGES.map((stage, k) => [stage, q(marks.map((m) => m[k + 1] - m[k]))])),
    total: q(marks.map((m) => m.at(-1)! - m[0])),
    sent_eagerly: eager,
    drained: drained.length === 0 ? null : {
      samples: drained.length,
      commit_end_to_drain_start: q(drained.map((d) => d[1] - d[0])),
      drain_start_to_message_ready: q(drained.map((d) => d[2] - d[1])),
    },
  };
}
