/**
 * Review of the signed *read* routes added with members-only reads and mailboxes (7585b1a,
 * 8c06197): `requestSigner` (src/region/read_guard.ts) verifies the RFC 9421 signature and then
 * claims its nonce in the store — a durable write — before anything decides the request is
 * allowed, and none of these routes draws from the client address's budget first:
 *   - `GET /v1/channels/_inbox:<someone>/authors/<someone else>` (the mailbox head route),
 *   - `GET /v1/channels/<members-only>` / `…/deltas` / `…/authors/…`,
 *   - `GET /v1/topics/<wildcard>/messages` and `…/events` when the admission file has any
 *     members-only rule (the signer decides which topics the wildcard shows).
 * Keys cost nothing, so one client signing each request with a fresh key makes the region write
 * one nonce per request without bound — the defect the heartbeat review fixed for
 * `POST /v1/agents/{id}/heartbeat` by charging the address first (sig_heartbeat_budget_test.ts).
 * The mailbox read and ack routes do charge the address first; these do not.
 *
 * docs/security.md lists this under known gaps ("Signed reads draw no rate-limit token"); it is
 * the defect the heartbeat fix removed, so it is kept here as a failing test to fix against.
 *
 * Expected: past the address burst, such requests are refused 429 before any nonce is written
 * (or the nonce is claimed only once the signer is known to be allowed).
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { signRequest } from "../../src/client/request_signer.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { parseAdmission } from "../../src/guard/admission.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { TopicHub } from "../../src/topics/hub.ts";
import { T0_MS } from "../support/signing.ts";

const NOW_MS = T0_MS;
const ADDRESS_BURST = 5;
const REQUESTS = 60;

function region() {
  const memory = new MemoryStore();
  const count = { nonces: 0 };
  const store = new Proxy(memory, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      if (name !== "claimNonce") return value.bind(target);
      return (...args: Parameters<RegionStore["claimNonce"]>) => {
        count.nonces++;
        return target.claimNonce(...args);
      };
    },
  }) as RegionStore;
  const owner = AgentKey.generate();
  const admission = parseAdmission(
    JSON.stringify({
      v: 1,
      channels: [{ match: "team", policy: "allowlist", authors: [owner.id], read: "members" }],
    }),
    "test",
  );
  const now = () => NOW_MS;
  const topics = new TopicHub({ store, pollMs: 10 });
  const registry = new Registry({ region: "eu-1", store, now });
  const app = meshRegionApp({
    region: "eu-1",
    store,
    now,
    registry,
    topics,
    admission,
    // Every request through app.request() comes from the one address "unknown".
    rateLimits: {
      addressPushRatePerS: 0.001,
      addressPushBurst: ADDRESS_BURST,
      authorDeltaRatePerS: 100,
      authorDeltaBurst: 100,
    },
  });
  const stop = async () => {
    topics.close();
    await registry.liveness.flush(NOW_MS).catch(() => 0);
  };
  return { app, count, owner, stop };
}

async function fromFreshKeys(app: Hono, path: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const key = AgentKey.generate();
    const request = new Request(`http://eu-1.mesh.example${path}`);
    const response = await app.request(await signRequest(key, request, { nowMs: NOW_MS }));
    await response.body?.cancel();
    statuses.push(response.status);
  }
  return statuses;
}

for (
  const [what, path] of [
    ["a mailbox head", (owner: string) => `/v1/channels/_inbox:${owner}/authors/${owner}`],
    ["a members-only channel", () => "/v1/channels/team"],
    ["a wildcard topic subject", () => "/v1/topics/%3E/messages?wait=0"],
  ] as const
) {
  Deno.test({
    // Fails today: every request from one address writes a nonce; none is refused 429.
    ignore: false,
    name: `signed reads of ${what} from fresh keys are held to the address budget`,
    fn: async () => {
      const { app, count, owner, stop } = region();
      try {
        const statuses = await fromFreshKeys(app, path(owner.id));
        assert.ok(
          count.nonces <= ADDRESS_BURST,
          `${REQUESTS} requests from one address wrote ${count.nonces} nonces ` +
            `(statuses ${[...new Set(statuses)].join(", ")})`,
        );
      } finally {
        await stop();
      }
    },
  });
}
