/** Helpers of the topic tests: regions in-process, signed topic messages, SSE read. */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import type { Agent } from "../../src/client/agent.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { topicChannel } from "../../src/protocol/message_kinds.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { TopicHub } from "../../src/topics/hub.ts";
import { Registry } from "../../src/registry/registry.ts";
import { sseEvents } from "../support/sse.ts";

export function topicRegion(store: RegionStore, now: () => number, region = "eu-1") {
  const topics = new TopicHub({ store, pollMs: 10 });
  const registry = new Registry({ region, store, now });
  const app = meshRegionApp({ region, store, now, topics, registry });
  return {
    app,
    topics,
    /** Stops the hub and lets the registry finish writing before the store closes. */
    async stop() {
      topics.close();
      await registry.liveness.flush(now()).catch(() => 0);
    },
  };
}

export function topicMessage(
  agent: Agent,
  topic: string,
  data: unknown,
  ttl = 3_600_000,
): Promise<Envelope> {
  return agent.signNextOf(topicChannel(topic), "topic", (seq, ts, lc) => ({
    seq,
    topic,
    ts,
    lc,
    ttl,
    data,
  }));
}

export async function publish(app: Hono, topic: string, messages: Envelope[]) {
  const response = await app.request(`/v1/topics/${topic}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).results as { status: string; reason?: string }[];
}

export interface LongPoll {
  readonly messages: { id: string; topic: string; seq: number; data: unknown }[];
  readonly cursor: string;
}

export async function poll(app: Hono, subject: string, query: string): Promise<LongPoll> {
  const response = await app.request(`/v1/topics/${encodeURIComponent(subject)}/messages?${query}`);
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json();
}

export interface TopicSseEvent {
  readonly event: string;
  readonly id: string;
  readonly data: Record<string, unknown>;
}

/** Reads SSE events from a response body until `count` events or the stream ends. */
export async function readEvents(response: Response, count: number): Promise<TopicSseEvent[]> {
  const events: TopicSseEvent[] = [];
  if (count <= 0) return events;
  for await (const { event, id, data } of sseEvents(response)) {
    events.push({ event, id, data: JSON.parse(data) });
    if (events.length >= count) break;
  }
  return events;
}
