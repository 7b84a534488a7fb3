import { MemoryStore } from "../../src/store/memory_store.ts";
import { runStoreConformance } from "./conformance.ts";

runStoreConformance("MemoryStore", () => {
  const store = new MemoryStore();
  return Promise.resolve({
    store,
    faults: {
      fail: () => void (store.failing = true),
      heal: () => void (store.failing = false),
    },
    writeLegacy: async (deltas) => {
      store.legacyLog = true;
      await store.putDeltas(deltas);
      store.legacyLog = false;
    },
    cleanup: () => store.close(),
  });
});
