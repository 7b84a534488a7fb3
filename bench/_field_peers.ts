/**
 * The reconciliation schemes bench/reconcile_field.ts sets against ours, each run in-process
 * over the same two id sets (or, for the CRDT libraries, over a model of them), returning round
 * trips, bytes both ways and CPU time of both sides together.
 *
 * - Full id-list exchange: the client sends all its ids (32 bytes each); the server answers with
 *   the ids the client lacks and those it lacks itself. One round trip.
 * - Negentropy (NIP-77), the reference algorithm as published in npm `@nostr-dev-kit/sync`
 *   1.0.0 (`Negentropy`, `NegentropyStorage`): items (timestamp 0, id), 16-way splits, id lists
 *   under 32 items, 16-byte fingerprints; no frame limit unless given.
 * - Automerge sync (npm `@automerge/automerge` 3.5.0): a document per set, one change per id
 *   (`d.k = i`), a shared history of common changes and each side's own changes on top, synced
 *   from fresh sync states with `generateSyncMessage` / `receiveSyncMessage`. The messages carry
 *   the missing changes themselves; `changeBytes` is their encoded size.
 * - Yjs state vectors (npm `yjs` 13.6.33): a Y.Array per set, the common items written by
 *   `YJS_CLIENTS` clients in turn, each side's own items by one client of its own; sync is
 *   y-protocols' step 1/step 2 both ways (state vector, then `encodeStateAsUpdate` against it):
 *   one round trip. Its updates carry the items themselves.
 */
import process from "node:process";
import { Negentropy, NegentropyStorage } from "@nostr-dev-kit/sync";
import * as Automerge from "@automerge/automerge";
import * as Y from "yjs";
import { ID_BYTES } from "../src/sync/id_trie.ts";

export interface FieldResult {
  readonly roundTrips: number;
  readonly bytes: number;
  readonly cpuMs: number;
  readonly exact: boolean;
  readonly note?: string;
}

/** CPU time (user + system) of `work`, in ms. */
export async function cpu<T>(work: () => T | Promise<T>): Promise<{ value: T; cpuMs: number }> {
  const before = process.cpuUsage();
  const value = await work();
  const used = process.cpuUsage(before);
  return { value, cpuMs: Math.round((used.user + used.system) / 100) / 10 };
}

const compare = (a: Uint8Array, b: Uint8Array) => {
  for (let k = 0; k < ID_BYTES; k++) if (a[k] !== b[k]) return a[k] - b[k];
  return 0;
};

/** Full id-list exchange over sorted id lists (as the tries give them). */
export async function fullList(
  client: () => Uint8Array[],
  server: () => Uint8Array[],
  expected: number,
): Promise<FieldResult> {
  const { value, cpuMs } = await cpu(() => {
    const mine = client(), theirs = server();
    const request = new Uint8Array(mine.length * ID_BYTES);
    mine.forEach((id, i) => request.set(id, i * ID_BYTES));
    let i = 0, j = 0, found = 0;
    const at = (k: number) => request.subarray(k * ID_BYTES, (k + 1) * ID_BYTES);
    while (i < mine.length || j < theirs.length) {
      const c = i === mine.length ? 1 : j === theirs.length ? -1 : compare(at(i), theirs[j]);
      if (c === 0) (i++, j++);
      else (found++, c < 0 ? i++ : j++);
    }
    return { bytes: request.length + found * ID_BYTES, found };
  });
  return { roundTrips: 1, bytes: value.bytes, cpuMs, exact: value.found === expected };
}

/**
 * The package's `Accumulator.add` reads an id through `new DataView(id.buffer)`, ignoring the
 * view's offset: every id must be its own buffer (a subarray of a larger one sums the wrong
 * bytes and the session misses differences).
 */
function storageOf(ids: readonly Uint8Array[]): NegentropyStorage {
  const storage = new NegentropyStorage();
  for (const id of ids) storage.insert(0, id.slice());
  storage.seal();
  return storage;
}

/** Negentropy: the client initiates, the server answers, until the client has nothing to send. */
export async function negentropy(
  clientIds: readonly Uint8Array[],
  serverIds: readonly Uint8Array[],
  expected: number,
  frameSizeLimit = 0,
): Promise<FieldResult> {
  const [clientStore, serverStore] = [storageOf(clientIds), storageOf(serverIds)];
  const { value, cpuMs } = await cpu(async () => {
    const client = new Negentropy(clientStore, frameSizeLimit);
    const server = new Negentropy(serverStore, frameSizeLimit);
    let message: Uint8Array | undefined = await client.initiate();
    let roundTrips = 0, bytes = 0, found = 0;
    while (message !== undefined) {
      roundTrips++;
      const answer = await server.reconcile(message);
      bytes += message.length + answer.nextMessage!.length;
      const step = await client.reconcile(answer.nextMessage!);
      found += step.have.length + step.need.length;
      message = step.nextMessage;
    }
    return { roundTrips, bytes, found };
  });
  return { ...value, cpuMs, exact: value.found === expected };
}

/** Automerge documents with `common` shared changes and `own` of each side's own. */
export function automergePair(common: number, ownClient: number, ownServer: number) {
  type Doc = { k: number };
  let base = Automerge.init<Doc>({ actor: "00" });
  for (let i = 0; i < common; i++) base = Automerge.change(base, (d) => void (d.k = i));
  const grow = (actor: string, own: number) => {
    let doc = Automerge.clone(base, { actor });
    for (let i = 0; i < own; i++) doc = Automerge.change(doc, (d) => void (d.k = -i));
    return doc;
  };
  return { client: grow("aa", ownClient), server: grow("bb", ownServer) };
}

/** Automerge sync from fresh states: messages alternate until neither side has one. */
export async function automergeSync(
  pair: ReturnType<typeof automergePair>,
  expected: number,
): Promise<FieldResult> {
  const { value, cpuMs } = await cpu(() => {
    let [a, b] = [pair.client, pair.server];
    let [sa, sb] = [Automerge.initSyncState(), Automerge.initSyncState()];
    let messages = 0, bytes = 0;
    for (let quiet = 0; quiet < 2;) {
      const [nextA, fromA] = Automerge.generateSyncMessage(a, sa);
      sa = nextA;
      if (fromA !== null) {
        (messages++, bytes += fromA.length);
        [b, sb] = Automerge.receiveSyncMessage(b, sb, fromA);
      }
      const [nextB, fromB] = Automerge.generateSyncMessage(b, sb);
      sb = nextB;
      if (fromB !== null) {
        (messages++, bytes += fromB.length);
        [a, sa] = Automerge.receiveSyncMessage(a, sa, fromB);
      }
      quiet = fromA === null && fromB === null ? quiet + 1 : 0;
    }
    const same = Automerge.getHeads(a).join() === Automerge.getHeads(b).join();
    return { roundTrips: Math.ceil(messages / 2), bytes, same };
  });
  const changeBytes = [pair.client, pair.server].reduce(
    (sum, doc, i) =>
      sum + Automerge.getChanges(i === 0 ? pair.server : pair.client, doc)
        .reduce((s, c) => s + c.length, 0),
    0,
  );
  return {
    roundTrips: value.roundTrips,
    bytes: value.bytes,
    cpuMs,
    exact: value.same && expected >= 0,
    note: `changes themselves ${changeBytes} B`,
  };
}

/** Common history written by this many clients in turn (agents), as a mesh's authors would. */
export const YJS_CLIENTS = 1_000;

/** Yjs documents with `common` shared items and each side's own items by a client of its own. */
export function yjsPair(common: number, ownClient: number, ownServer: number) {
  const base = new Y.Doc();
  const items = base.getArray<number>("ids");
  const per = Math.ceil(common / YJS_CLIENTS);
  for (let c = 0, left = common; left > 0; c++, left -= per) {
    base.clientID = c + 1;
    base.transact(() => items.push(Array.from({ length: Math.min(per, left) }, (_, i) => i)));
  }
  const grow = (clientID: number, own: number) => {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(base));
    doc.clientID = clientID;
    if (own > 0) doc.getArray<number>("ids").push(Array.from({ length: own }, (_, i) => -i));
    return doc;
  };
  return { client: grow(1_000_001, ownClient), server: grow(1_000_002, ownServer) };
}

/** y-protocols sync: both send their state vector, both answer with the update it lacks. */
export async function yjsSync(pair: ReturnType<typeof yjsPair>): Promise<FieldResult> {
  const { value, cpuMs } = await cpu(() => {
    const [a, b] = [pair.client, pair.server];
    const svA = Y.encodeStateVector(a), svB = Y.encodeStateVector(b);
    const toA = Y.encodeStateAsUpdate(b, svA), toB = Y.encodeStateAsUpdate(a, svB);
    Y.applyUpdate(a, toA);
    Y.applyUpdate(b, toB);
    const same = Y.encodeStateVector(a).join() === Y.encodeStateVector(b).join();
    return { bytes: svA.length + svB.length + toA.length + toB.length, same, sv: svA.length };
  });
  return {
    roundTrips: 1,
    bytes: value.bytes,
    cpuMs,
    exact: value.same,
    note: `state vectors ${value.sv} B each`,
  };
}
