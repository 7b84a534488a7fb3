/**
 * The runtime's native `node:crypto`, where it exposes one through `process.getBuiltinModule`
 * (Deno, Node, workerd with nodejs_compat), else null: what of it this folder uses, typed. Its
 * calls are synchronous and run on the calling thread, without a hop to a worker thread and back
 * as WebCrypto's promises take (docs/performance.md, issue 15).
 */

export interface NodeHash {
  update(data: Uint8Array): NodeHash;
  digest(): Uint8Array;
}

/** An imported key (`KeyObject`). */
export type NodeKey = { readonly type: string };

/** A key as DER bytes: a public key as SPKI, a private key as PKCS #8. */
export type DerKey =
  | { readonly key: Uint8Array; readonly format: "der"; readonly type: "spki" }
  | { readonly key: Uint8Array; readonly format: "der"; readonly type: "pkcs8" };

export interface NodeCrypto {
  createHash(algorithm: string): NodeHash;
  createPublicKey(key: DerKey): NodeKey;
  createPrivateKey(key: DerKey): NodeKey;
  sign(algorithm: null, data: Uint8Array, key: NodeKey): Uint8Array;
  verify(algorithm: null, data: Uint8Array, key: NodeKey, signature: Uint8Array): boolean;
}

/**
 * `node:crypto`'s functions `needs` names, copied out of the module (bound to it) when this is
 * called, or null where the runtime has none or lacks one of them. Copied, not looked up per call:
 * the module object is shared and writable, and code elsewhere in the process that wraps one of its
 * functions later must not change what this folder computes.
 */
export function nodeCrypto<K extends keyof NodeCrypto>(
  needs: readonly K[],
): Pick<NodeCrypto, K> | null {
  const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
    .process;
  let module: Partial<NodeCrypto> | undefined;
  try {
    module = process?.getBuiltinModule?.("node:crypto") as Partial<NodeCrypto> | undefined;
  } catch {
    return null;
  }
  if (module === undefined || !needs.every((f) => typeof module[f] === "function")) return null;
  const copied = Object.fromEntries(
    needs.map((f) => [f, (module[f] as (...args: unknown[]) => unknown).bind(module)]),
  );
  return Object.freeze(copied) as Pick<NodeCrypto, K>;
}
