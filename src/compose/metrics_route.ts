/**
 * `GET /metrics`: the region's instruments in Prometheus text, for an operator's scraper. Off
 * unless `MESH_METRICS_TOKEN` is set (the route then does not exist: 404); on, it answers only a
 * request with `Authorization: Bearer <token>` (else 401 problem+json). The instruments record
 * into an in-process meter whose reader collects on each scrape, beside whatever the global
 * OpenTelemetry SDK exports (Deno's OTLP with `OTEL_DENO=true`).
 */
import { Hono } from "hono";
import type { Meter } from "@opentelemetry/api";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { sha256 } from "../crypto/sha256.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import { allowOnly } from "../region/app.ts";
import { Problem } from "../region/problem.ts";
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "./prometheus_text.ts";

/** The meter the instruments also record into, and the scrape of what they recorded. */
export interface MetricsScrape {
  readonly meter: Meter;
  /** The Prometheus text of every instrument as of now. */
  scrape(): Promise<string>;
  close(): Promise<void>;
}

/** A reader that collects only when asked (on a scrape), never on a timer. */
class ScrapeReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A meter with a scrape reader (cumulative sums, as Prometheus expects). */
export function metricsScrape(): MetricsScrape {
  const reader = new ScrapeReader();
  const provider = new MeterProvider({ readers: [reader] });
  return {
    meter: provider.getMeter("edge-gossip-mesh"),
    async scrape() {
      const { resourceMetrics } = await reader.collect();
      return prometheusText(resourceMetrics);
    },
    close: () => provider.shutdown(),
  };
}

/** Whether `authorization` is `Bearer <token>`; compares digests, so in time independent of it. */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? "");
  if (match === null) return false;
  const [given, wanted] = [match[1], token].map((t) => sha256(utf8Encode(t)));
  let difference = 0;
  for (let i = 0; i < wanted.length; i++) difference |= given[i] ^ wanted[i];
  return difference === 0;
}

/** The `/metrics` route, answering `scrape` to requests bearing `token`. */
export function metricsRoute(token: string, scrape: () => Promise<string>): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => {
    if (!bearerMatches(c.req.header("authorization"), token)) {
      throw new Problem(
        "token-required",
        "GET /metrics takes Authorization: Bearer <MESH_METRICS_TOKEN>",
        { "www-authenticate": 'Bearer realm="metrics"' },
      );
    }
    return c.body(await scrape(), 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  });
  allowOnly(app, "/metrics", "GET");
  return app;
}
