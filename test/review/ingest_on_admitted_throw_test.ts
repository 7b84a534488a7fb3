/**
 * Review of 70ef3c5: ingest now starts the store write, then calls `onAdmitted` (the mesh's eager
 * forward), then awaits the write. `onAdmitted` "must not throw", but nothing holds it to that: if
 * it does, ingest rejects with its error while the write it started runs on un-awaited — the
 * caller answers 500 for deltas that may be stored, and a write that then fails is an unhandled
 * rejection, which ends a Deno process (no `unhandledrejection` handler in the region). Before
 * 70ef3c5 the same throw came before the write: a clean 500, nothing written.
 */
import assert from "node:assert/strict";
import { ingest } from "../../src/region/ingest.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { StoreUnavailableError } from "../../src/store/region_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

Deno.test("a throwing onAdmitted neither hides the store's answer nor leaves the write unawaited", async () => {
  const store = new MemoryStore();
  store.putDeltas = async () => {
    await new Promise((r) => setTimeout(r, 10));
    throw new StoreUnavailableError("the store is down");
  };
  const agent = testAgent();
  await assert.rejects(
    ingest([agent.sign("c", [{ op: "set", key: "x", value: 1 }])], store, verifyEd25519, T0_MS, {
      onAdmitted: () => {
        throw new Error("a forward failed to start");
      },
    }),
    StoreUnavailableError,
  );
  await new Promise((r) => setTimeout(r, 50)); // an unhandled rejection would surface here
});
