/**
 * The Prometheus text exposition format (0.0.4) of collected OpenTelemetry metrics, as
 * `GET /metrics` answers it, following OpenTelemetry's Prometheus compatibility rules: `.` and
 * other characters Prometheus refuses become `_`; the unit becomes a suffix (`s` → `_seconds`,
 * `By` → `_bytes`; annotations like `{delta}` and `1` are dropped); monotonic sums are counters
 * with `_total`, other sums and gauges are gauges; explicit-bucket histograms are cumulative
 * `_bucket{le}` series with `_sum` and `_count`. Pure: data in, text out.
 */
import {
  type DataPoint,
  DataPointType,
  type Histogram,
  type MetricData,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import type { Attributes } from "@opentelemetry/api";

/** The media type of the answer. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const UNIT_SUFFIXES: Readonly<Record<string, string>> = {
  s: "seconds",
  ms: "milliseconds",
  By: "bytes",
};

/** A metric or label name with every character Prometheus refuses as `_`. */
export function prometheusName(name: string, label = false): string {
  const cleaned = name.replace(label ? /[^a-zA-Z0-9_]/g : /[^a-zA-Z0-9_:]/g, "_");
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned;
}

/** The exposed name of `metric`: cleaned, with its unit suffix and, for a counter, `_total`. */
export function exposedName(metric: MetricData): string {
  let name = prometheusName(metric.descriptor.name);
  const unit = UNIT_SUFFIXES[metric.descriptor.unit];
  if (unit !== undefined && !name.endsWith(`_${unit}`)) name += `_${unit}`;
  return isCounter(metric) ? `${name}_total` : name;
}

function isCounter(metric: MetricData): boolean {
  return metric.dataPointType === DataPointType.SUM && metric.isMonotonic;
}

function typeOf(metric: MetricData): "counter" | "gauge" | "histogram" | null {
  switch (metric.dataPointType) {
    case DataPointType.SUM:
      return metric.isMonotonic ? "counter" : "gauge";
    case DataPointType.GAUGE:
      return "gauge";
    case DataPointType.HISTOGRAM:
      return "histogram";
    default:
      return null; // exponential histograms are not configured here
  }
}

function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** `{k="v",...}` of `attributes` (and `extra`), or "" when there are none. */
function labels(attributes: Attributes, extra: Record<string, string> = {}): string {
  const pairs = Object.entries(attributes)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${prometheusName(k, true)}="${escapeLabel(String(v))}"`);
  for (const [k, v] of Object.entries(extra)) pairs.push(`${k}="${escapeLabel(v)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

function histogramLines(name: string, point: DataPoint<Histogram>): string[] {
  const { boundaries, counts } = point.value.buckets;
  const lines: string[] = [];
  let cumulative = 0;
  boundaries.forEach((bound, i) => {
    cumulative += counts[i] ?? 0;
    lines.push(`${name}_bucket${labels(point.attributes, { le: number(bound) })} ${cumulative}`);
  });
  const count = point.value.count;
  lines.push(`${name}_bucket${labels(point.attributes, { le: "+Inf" })} ${count}`);
  lines.push(`${name}_sum${labels(point.attributes)} ${number(point.value.sum ?? 0)}`);
  lines.push(`${name}_count${labels(point.attributes)} ${count}`);
  return lines;
}

/** The exposition of every metric with data points in `resourceMetrics`, each family once. */
export function prometheusText(resourceMetrics: ResourceMetrics): string {
  const families = new Map<string, { help: string; type: string; lines: string[] }>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      const type = typeOf(metric);
      if (type === null || metric.dataPoints.length === 0) continue;
      const name = exposedName(metric);
      const family = families.get(name) ??
        { help: metric.descriptor.description, type, lines: [] };
      families.set(name, family);
      for (const point of metric.dataPoints) {
        if (metric.dataPointType === DataPointType.HISTOGRAM) {
          family.lines.push(...histogramLines(name, point as DataPoint<Histogram>));
        } else {
          const value = (point as DataPoint<number>).value;
          family.lines.push(`${name}${labels(point.attributes)} ${number(value)}`);
        }
      }
    }
  }
  const out: string[] = [];
  for (const [name, family] of families) {
    const help = family.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${family.type}`, ...family.lines);
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}
