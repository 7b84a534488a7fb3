/** Cards, card deltas and HTTP helpers shared by the registry tests. */
import type { Hono } from "hono";
import type { Agent } from "../../src/client/agent.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { type AgentCard, REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { deltaId, type Op } from "../../src/protocol/delta.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import type { StoredDelta } from "../../src/store/region_store.ts";

/** A valid card named `name` with one skill per entry of `skills` (`id` → tags). */
export function card(
  name: string,
  skills: Record<string, string[]> = { translate: ["language"] },
  description = `${name} does useful work`,
): AgentCard {
  return {
    name,
    description,
    version: "1.0.0",
    supportedInterfaces: [{
      url: "https://agent.example/a2a",
      protocolBinding: "JSONRPC",
      protocolVersion: "1.0",
    }],
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: Object.entries(skills).map(([id, tags]) => ({
      id,
      name: `skill ${id}`,
      description: `does ${id}`,
      tags,
    })),
    mesh: { resources: { cpu: 2, memoryMb: 4096 }, homeRegions: ["eu-1"] },
  };
}

export function announce(agent: Agent, value: AgentCard | unknown): Envelope {
  return agent.sign(REGISTRY_CHANNEL, [{ op: "set", key: agent.key.id, value } as Op]);
}

export function withdraw(agent: Agent): Envelope {
  return agent.sign(REGISTRY_CHANNEL, [{ op: "del", key: agent.key.id }]);
}

/** POSTs `deltas` to `app`; the per-delta results. */
export async function push(
  app: Hono,
  deltas: unknown[],
): Promise<{ status: string; reason?: string; detail?: string }[]> {
  const response = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  if (response.status !== 200) throw new Error(`push answered ${response.status}`);
  return (await response.json()).results;
}

export interface AgentJson {
  id: string;
  card: AgentCard;
  lastSeen: number;
  stale: boolean;
  region: string | null;
}

/** `GET /v1/agents?<query>` as JSON; throws on a non-200. */
export async function discover(
  app: Hono,
  query = "",
): Promise<{ agents: AgentJson[]; cursor: string | null }> {
  const response = await app.request(`/v1/agents${query === "" ? "" : `?${query}`}`);
  if (response.status !== 200) {
    throw new Error(`discover ${query} answered ${response.status}: ${await response.text()}`);
  }
  return await response.json();
}

/** Every agent `GET /v1/agents?<query>` lists, following cursors to the end. */
export async function discoverAll(app: Hono, query = ""): Promise<AgentJson[]> {
  const all: AgentJson[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 10_000; pages++) {
    const params = new URLSearchParams(query);
    if (cursor !== null) params.set("cursor", cursor);
    const page = await discover(app, params.toString());
    all.push(...page.agents);
    cursor = page.cursor;
    if (cursor === null) return all;
  }
  throw new Error("discovery did not end");
}

/** An unsigned `_registry` record for store-level tests: the body a region would store. */
export function cardRecord(
  author: string,
  seq: number,
  ts: number,
  lc: number,
  value: AgentCard | null,
): StoredDelta {
  const op = value === null ? { op: "del", key: author } : { op: "set", key: author, value };
  const body = JSON.stringify({
    v: 1,
    author,
    seq,
    channel: REGISTRY_CHANNEL,
    ts,
    lc,
    ops: [op],
  });
  return {
    id: deltaId(utf8Encode(body)),
    channel: REGISTRY_CHANNEL,
    author,
    seq,
    body,
    sig: "A".repeat(86),
  };
}
