/**
 * Review of `RegistryIndexer.catchUp` (6d50d4e): concurrent calls in one instance share the
 * run in flight, whatever their `pagesMax` and whenever the run read its last page. A push
 * whose `_registry` delta was stored after the shared run listed the arrivals is answered
 * without its card indexed, and a lookup that joins the same run answers 404 for an agent the
 * region just accepted; and a request (3 pages) that joins the job's run waits for its 50.
 */
import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { ArrivalPage } from "../../src/store/region_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { announce, card, push } from "../registry/_cards.ts";

/** A MemoryStore whose `_registry` arrival listings answer late (read now, answered later). */
class SlowListingStore extends MemoryStore {
  gate: Promise<void> | null = null;
  override async listArrivals(channel: string, after: number, limit: number): Promise<ArrivalPage> {
    const page = await super.listArrivals(channel, after, limit);
    if (channel === "_registry" && this.gate !== null) await this.gate;
    return page;
  }
}

Deno.test({
  name: "registry review: an agent that was just answered 'accepted' finds its own card",
  // Was a defect (shared in-flight run): the push's catch-up and the lookup join the job's run, which
  // listed the arrivals before the card was stored; the push is answered with the card not
  // indexed, and GET /v1/agents/{id} answers 404 for it.
  fn: async () => {
    const store = new SlowListingStore();
    const registry = new Registry({ region: "eu-1", store, now: () => T0_MS });
    const app = meshRegionApp({ region: "eu-1", store, now: () => T0_MS, registry });
    const agent = testAgent();
    let open!: () => void;
    store.gate = new Promise((resolve) => open = resolve);
    const job = registry.tick(); // lists arrivals now (none), answers when the gate opens
    await new Promise((r) => setTimeout(r, 10));
    store.gate = null;
    const pushed = push(app, [announce(agent, card("Just Announced"))]);
    await new Promise((r) => setTimeout(r, 10));
    const lookup = app.request(`/v1/agents/${agent.key.id}`);
    await new Promise((r) => setTimeout(r, 10));
    open();
    await job;
    assert.equal((await pushed)[0].status, "accepted");
    const response = await lookup;
    assert.equal(response.status, 200, await response.text());
  },
});
