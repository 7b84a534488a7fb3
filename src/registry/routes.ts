/**
 * The registry's routes (docs/protocol.md §20): `GET /v1/agents` (discovery),
 * `GET /v1/agents/{id}` (one card as A2A JSON, with its signed envelope) and the signed
 * `POST /v1/agents/{id}/heartbeat` (`heartbeat_route.ts`). A Hono app the composition root
 * mounts on the region app, whose error handler answers problem+json.
 */
import { type Context, Hono } from "hono";
import { quarantineOf } from "../guard/quarantine.ts";
import { CARD_SKILL_ID_CHARS_MAX, CARD_TAG_CHARS_MAX } from "../protocol/agent_card.ts";
import { REGISTRY_CHANNEL } from "../protocol/agent_card.ts";
import { type DeltaBody, ID_PATTERN } from "../protocol/delta.ts";
import { allowOnly } from "../region/app.ts";
import { Problem } from "../region/problem.ts";
import { names } from "../telemetry/mod.ts";
import {
  decodeCursor,
  discover,
  DISCOVER_LIMIT_DEFAULT,
  DISCOVER_LIMIT_MAX,
  DISCOVER_Q_CHARS_MAX,
  DISCOVER_TAGS_MAX,
  DISCOVER_WORDS_MAX,
  type DiscoverQuery,
  queryTags,
  queryWords,
} from "./discovery.ts";
import {
  cardKey,
  type CardRecord,
  parseCardRecord,
  parseSeenRecord,
  seenKey,
} from "./index_layout.ts";
import { heartbeatRoute } from "./heartbeat_route.ts";
import type { Registry } from "./registry.ts";

/** An agent as discovery answers it. */
export interface AgentEntry {
  readonly id: string;
  readonly card: unknown;
  /** The largest signed `ts` of the agent's deltas stored here, ms since the epoch. */
  readonly lastSeen: number;
  readonly stale: boolean;
  /** The region that stored the delta `lastSeen` comes from; null when not known. */
  readonly region: string | null;
}

export function registryRoutes(registry: Registry): Hono {
  const app = new Hono();
  app.get("/v1/agents", (c) => {
    const query = discoverQuery(c);
    return registry.telemetry.inSpan(names.SPAN_REGISTRY_DISCOVER, registry.base, async (span) => {
      const started = performance.now();
      await registry.catchUpForRequest();
      const quarantined = await quarantineOf(registry.store).authors();
      const page = await discover(registry.store, query, quarantined);
      const agents = await entries(registry, page.hits.map((h) => [h.author, h.record]));
      span.setAttributes({
        [names.ATTR_REGISTRY_LISTING]: page.listing,
        [names.ATTR_REGISTRY_SCANNED]: page.scanned,
        [names.ATTR_REGISTRY_RESULTS]: agents.length,
      });
      registry.telemetry.registryDiscoverDuration.record((performance.now() - started) / 1000, {
        ...registry.base,
        [names.ATTR_REGISTRY_LISTING]: page.listing,
      });
      return c.json({ agents: agents.map(({ entry }) => entry), cursor: page.cursor });
    });
  });

  app.get("/v1/agents/:id", (c) => {
    const id = c.req.param("id");
    if (!ID_PATTERN.test(id)) {
      throw new Problem("invalid-request", "agent id must be a 43-character base64url public key");
    }
    return registry.telemetry.inSpan(names.SPAN_REGISTRY_CARD, registry.base, async () => {
      await registry.catchUpForRequest();
      const [text] = await registry.store.readIndex([cardKey(id)]);
      const record = parseCardRecord(text);
      const quarantined = await quarantineOf(registry.store).authors();
      const found = record === null || record.deleted || quarantined.has(id)
        ? []
        : await entries(registry, [[id, record]]);
      if (found.length === 0) {
        throw new Problem("not-found", `No agent card for ${id} in this region`);
      }
      const { entry, envelope } = found[0];
      const { card, id: _, ...live } = entry;
      return c.json({
        ...(card as Record<string, unknown>),
        meshRegistry: { id, envelope, ...live },
      });
    });
  });

  app.route("/", heartbeatRoute(registry));
  allowOnly(app, "/v1/agents", "GET");
  allowOnly(app, "/v1/agents/:id", "GET");
  return app;
}

/** The answers for `hits`: each card read from its stored delta, with liveness; in order. */
async function entries(
  registry: Registry,
  hits: readonly (readonly [string, CardRecord])[],
) {
  if (hits.length === 0) return [];
  const [deltas, seen] = await Promise.all([
    Promise.all(hits.map(([, r]) => registry.store.getDelta(REGISTRY_CHANNEL, r.id))),
    registry.store.readIndex(hits.map(([author]) => seenKey(author))),
  ]);
  const nowMs = registry.now();
  return hits.flatMap(([author, record], i) => {
    const delta = deltas[i];
    if (delta === null) return [];
    const op = (JSON.parse(delta.body) as DeltaBody).ops[0];
    if (op.op !== "set") return [];
    const stored = parseSeenRecord(seen[i]);
    const waiting = registry.liveness.noted(author);
    const noted = waiting !== null && waiting.ts > (stored?.ts ?? -1) ? waiting : stored;
    const lastSeen = Math.max(noted?.ts ?? 0, record.ts);
    const region = noted !== null && noted.ts >= record.ts ? noted.region : null;
    const entry: AgentEntry = {
      id: author,
      card: op.value,
      lastSeen,
      stale: nowMs - lastSeen > registry.staleMs,
      region,
    };
    return [{ entry, envelope: { body: delta.body, sig: delta.sig } }];
  });
}

/** The checked query of `GET /v1/agents`; a problem naming the first bad parameter. */
function discoverQuery(c: Context): DiscoverQuery {
  const once = (name: string): string | undefined => {
    const values = c.req.queries(name) ?? [];
    if (values.length > 1) {
      throw new Problem("invalid-request", `Query parameter ${name} may be given once`);
    }
    return values[0];
  };
  const skill = once("skill");
  if (skill !== undefined) checkTerm("skill", skill, CARD_SKILL_ID_CHARS_MAX);
  const rawTags = c.req.queries("tag") ?? [];
  if (rawTags.length > DISCOVER_TAGS_MAX) {
    throw new Problem("invalid-request", `At most ${DISCOVER_TAGS_MAX} tag parameters`);
  }
  for (const tag of rawTags) checkTerm("tag", tag, CARD_TAG_CHARS_MAX);
  const q = once("q") ?? "";
  if (q.length > DISCOVER_Q_CHARS_MAX || !q.isWellFormed()) {
    throw new Problem(
      "invalid-request",
      `Query parameter q must be well-formed text of at most ${DISCOVER_Q_CHARS_MAX} characters`,
    );
  }
  const words = queryWords(q);
  if (words.length > DISCOVER_WORDS_MAX) {
    throw new Problem(
      "invalid-request",
      `Query parameter q may hold at most ${DISCOVER_WORDS_MAX} words`,
    );
  }
  if (q.trim() !== "" && words.length === 0) {
    throw new Problem("invalid-request", "Query parameter q holds no word (letters or digits)");
  }
  const limit = limitOf(once("limit"));
  const base = { skill, tags: queryTags(rawTags), words, limit };
  const cursor = once("cursor");
  if (cursor === undefined || cursor === "") return base;
  const after = decodeCursor(cursor, base);
  if (after === null) {
    throw new Problem(
      "invalid-request",
      "Query parameter cursor is not a cursor this query returned",
    );
  }
  return { ...base, after };
}

function checkTerm(name: string, value: string, max: number): void {
  if (value.length < 1 || value.length > max || !value.isWellFormed() || value.includes("\u0000")) {
    throw new Problem(
      "invalid-request",
      `Query parameter ${name} must be 1 to ${max} characters of well-formed text without NUL`,
    );
  }
}

function limitOf(raw: string | undefined): number {
  if (raw === undefined) return DISCOVER_LIMIT_DEFAULT;
  const value = /^[0-9]{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= 1 && value <= DISCOVER_LIMIT_MAX)) {
    throw new Problem(
      "invalid-request",
      `Query parameter limit must be an integer in 1..${DISCOVER_LIMIT_MAX}`,
    );
  }
  return value;
}
