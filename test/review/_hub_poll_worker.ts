/**
 * A module worker around TopicHub's shared log poll (for hub_poll_workerd_test.ts), over a fake
 * store whose region log `/write` appends a topic message to, as another instance of the region
 * would, and whose log heads take 300 ms to read (a timer standing in for the store's fetch, which
 * belongs to the request that made it). `/next?s=&ms=` subscribes to subject `s` and waits up to
 * `ms` for one event, as `GET /v1/topics/...?wait=` does; the hub polls every 20 ms.
 */
import type { RegionStore } from "../../src/store/region_store.ts";
import { fakeLogStore } from "../support/fake_log_store.ts";
import { hubWorker } from "../support/hub_worker.ts";

const { store: fast, append } = fakeLogStore();
const store = {
  ...fast,
  kind: "memory",
  logHeads: () => new Promise((resolve) => setTimeout(() => resolve(fast.logHeads()), 300)),
} as unknown as RegionStore;

export default hubWorker(store, append, 20);
