/**
 * A Deno KV handle that can be switched to fail like an unreachable database: reads, lists and
 * commits reject while `failing` is set. It wraps a real Kv, so everything else is the real thing.
 */
export interface FailingKv {
  readonly kv: Deno.Kv;
  failing: boolean;
}

const fault = () => new Error("injected fault: database unreachable");

export function failingKv(real: Deno.Kv): FailingKv {
  const state: { failing: boolean } = { failing: false };
  const wrapAtomic = (op: Deno.AtomicOperation): Deno.AtomicOperation => {
    const proxy: Deno.AtomicOperation = new Proxy(op, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (prop === "commit") {
          return () => state.failing ? Promise.reject(fault()) : target.commit();
        }
        return (...args: unknown[]) => {
          value.apply(target, args);
          return proxy;
        };
      },
    });
    return proxy;
  };
  const kv = new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "atomic") return () => wrapAtomic(target.atomic());
      if (prop === "close") return value.bind(target);
      if (prop === "list") {
        return (...args: unknown[]) => {
          if (state.failing) throw fault();
          return value.apply(target, args);
        };
      }
      return (...args: unknown[]) =>
        state.failing ? Promise.reject(fault()) : value.apply(target, args);
    },
  });
  return Object.defineProperties({ kv } as FailingKv, {
    failing: {
      get: () => state.failing,
      set: (v: boolean) => state.failing = v,
    },
  });
}
