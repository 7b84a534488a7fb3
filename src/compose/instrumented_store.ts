/**
 * A regional store that measures itself: every asynchronous operation's duration
 * (`mesh.store.duration`, by operation) and failures (`mesh.store.errors`, by operation and error
 * type, and a `mesh.store.error` log line, at most one per operation per 10 s with the count held
 * back). A proxy over any `RegionStore`, so the three stores and their conformance stay as they
 * are; synchronous members (`kind`, a test's `failing` switch) pass through untouched.
 */
import type { RegionStore } from "../store/region_store.ts";
import { LogThrottle } from "../telemetry/log.ts";
import { log as rootLog, type Logger, names, type Telemetry } from "../telemetry/mod.ts";

export function instrumentStore<S extends RegionStore>(
  store: S,
  o: { readonly region: string; readonly telemetry: Telemetry; readonly log?: Logger },
): S {
  const { telemetry, log = rootLog } = o;
  const base = { [names.ATTR_REGION]: o.region, [names.ATTR_STORE_KIND]: store.kind };
  const throttle = new LogThrottle();
  const failed = (operation: string, error: unknown) => {
    const type = (error as Error)?.name ?? "Error";
    telemetry.storeErrors.add(1, { ...attrs(operation), [names.ATTR_ERROR_TYPE]: type });
    const suppressed = throttle.pass(operation, Date.now());
    if (suppressed !== null) {
      log.error(names.EVENT_STORE_ERROR, { store: store.kind, operation, error, suppressed });
    }
  };
  const attrs = (operation: string) => ({ ...base, [names.ATTR_STORE_OPERATION]: operation });
  return new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function" || typeof key !== "string" || key === "constructor") {
        return value;
      }
      return (...args: unknown[]) => {
        const started = performance.now();
        const result = value.apply(target, args);
        if (!(result instanceof Promise)) return result;
        const done = () => telemetry.storeDuration.record(elapsedS(started), attrs(key));
        return result.then(
          (answer) => (done(), answer),
          (error) => {
            done();
            failed(key, error);
            throw error;
          },
        );
      };
    },
  });
}

function elapsedS(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
