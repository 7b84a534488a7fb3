/** A store that counts the deltas its `listArrivals` pages return (the cost of a scan). */
import type { RegionStore } from "../../src/store/region_store.ts";

export function countingArrivals(store: RegionStore): { store: RegionStore; read: () => number } {
  let read = 0;
  const counted = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      if (name !== "listArrivals") return value.bind(target);
      return async (...args: Parameters<RegionStore["listArrivals"]>) => {
        const page = await target.listArrivals(...args);
        read += page.deltas.length;
        return page;
      };
    },
  }) as RegionStore;
  return { store: counted, read: () => read };
}
