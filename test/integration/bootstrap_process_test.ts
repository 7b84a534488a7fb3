/**
 * Bootstrap by bulk copy between two real region processes (`main.ts`, Deno KV files, loopback
 * HTTP): the peer's store holds signed deltas its fan-out will never send (origin `sync`, as for a
 * reset region), anti-entropy is slowed to once an hour on both sides, and the new region,
 * started with `MESH_BOOTSTRAP=eu-1`, ends with the same set — only the copy could have brought it.
 */
import assert from "node:assert/strict";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { ingest } from "../../src/region/ingest.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import {
  pairInOneZone,
  type RegionProcess,
  startRegionProcess,
} from "../support/region_process.ts";
import { testAgent } from "../support/signing.ts";

const DELTAS = 2_500;

async function seedPeer(dir: string): Promise<void> {
  const store = await DenoKvStore.open(`${dir}/eu-1.kv`);
  try {
    const agents = [testAgent(Date.now), testAgent(Date.now)];
    const envelopes = Array.from(
      { length: DELTAS },
      (_, i) => agents[i % 2].sign(`room-${i % 4}`, [{ op: "inc", counter: "n", by: 1 }]),
    );
    for (let i = 0; i < envelopes.length; i += 500) {
      const out = await ingest(envelopes.slice(i, i + 500), store, verifyEd25519, Date.now(), {
        origin: "sync",
      });
      assert.ok(out.results.every((r) => r.status === "accepted"));
    }
  } finally {
    await store.close();
  }
}

async function status(region: RegionProcess) {
  return await (await fetch(`${region.url}/v1/status`)).json() as {
    deltas: number;
    fingerprint: string;
  };
}

Deno.test("a new region process copies its peer's deltas with MESH_BOOTSTRAP and ends with the same set", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-bootstrap-process-" });
  await seedPeer(dir);
  const pair = await pairInOneZone(dir);
  const env = (id: "eu-1" | "eu-2", data: string, bootstrap: string) => ({
    ...pair.env(id),
    MESH_DATA: data,
    MESH_ANTI_ENTROPY_MS: "3600000",
    MESH_BOOTSTRAP: bootstrap,
  });
  const peer = await startRegionProcess(env("eu-1", dir, "off"));
  let fresh: RegionProcess | null = null;
  try {
    const target = await status(peer);
    assert.equal(target.deltas, DELTAS);
    fresh = await startRegionProcess(env("eu-2", `${dir}/eu-2`, "eu-1"));
    const deadline = Date.now() + 60_000;
    let held = await status(fresh);
    while (held.fingerprint !== target.fingerprint && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      held = await status(fresh);
    }
    assert.equal(held.deltas, DELTAS);
    assert.equal(held.fingerprint, target.fingerprint);
    await new Promise((r) => setTimeout(r, 200)); // the ended line is written after the last page
    assert.match(fresh.output(), /"event":"mesh\.bootstrap\.ended".*"outcome":"done"/);
  } finally {
    await fresh?.stop();
    await peer.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
