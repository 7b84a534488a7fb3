/**
 * What a mesh node is built from, and the defaults of its jobs' periods and bounds (src/mesh/
 * mesh_node.ts re-exports them).
 */
import type { AdmissionPolicy } from "../guard/admission.ts";
import type { AgentKey } from "../crypto/agent_key.ts";
import type { RegionStore } from "../store/region_store.ts";
import type { VerifyFn } from "../protocol/result.ts";
import type { Sleep } from "./heartbeats.ts";
import type { RegionIndex, StoredHook } from "./region_index.ts";
import type { RegionInfo, Topology } from "./topology.ts";
import type { Logger, Telemetry } from "../telemetry/mod.ts";

/** Default heartbeat period between exchanging regions, in ms. */
export const HEARTBEAT_MS_DEFAULT = 250;
/** Default pause between anti-entropy rounds with one peer, in ms. */
export const ANTI_ENTROPY_MS_DEFAULT = 2_000;
/** Default fan-out drain period, in ms (a push also triggers a drain at once). */
export const FANOUT_MS_DEFAULT = 50;
/** Longest back-off between fan-out attempts to a failing peer, in ms. */
export const FANOUT_BACKOFF_MS_MAX = 2_000;
/**
 * Longest anti-entropy may wait for a peer while fan-out has a backlog for it, in ms. Under steady
 * load a backlog never quite empties, and some deltas reach a peer by anti-entropy alone.
 */
export const ANTI_ENTROPY_DEFER_MS_MAX = 10_000;

export interface MeshNodeOptions {
  readonly self: RegionInfo;
  readonly topology: Topology;
  readonly key: AgentKey;
  readonly store: RegionStore;
  readonly index: RegionIndex;
  readonly verify: VerifyFn;
  /** This instance's id (lease holder), unique per process. */
  readonly instance: string;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  readonly heartbeatMs?: number;
  readonly leaseTtlMs?: number;
  readonly antiEntropyMs?: number;
  readonly telemetry?: Telemetry;
  /** Where leadership, peer and partition events are logged. Default: the root logger. */
  readonly log?: Logger;
  /** Randomness for back-off jitter (tests and simulations pass a seeded one). */
  readonly random?: () => number;
  /** Real-time limit of one request to a peer, in ms. Default PEER_REQUEST_TIMEOUT_MS. */
  readonly peerTimeoutMs?: number;
  /** The mesh's admission policy, applied to relayed and repaired deltas. Default: all open. */
  readonly admission?: AdmissionPolicy;
  /** Told of the deltas a peer relayed or anti-entropy repaired here, and of that peer's id. */
  readonly onStored?: StoredHook;
  /** Send deltas to peers while they commit here (`forward`); else from the log only. Default true. */
  readonly forwardEagerly?: boolean;
  /** Told of sends a request starts and does not await, for edge hosts (compose/background.ts). */
  readonly background?: (work: Promise<unknown>) => void;
  /**
   * Longest a heartbeat tick waits for answers, in ms (later answers still count). Default the
   * heartbeat period, at most HEARTBEAT_WAIT_MS_MAX.
   */
  readonly heartbeatWaitMs?: number;
  /** How the heartbeat tick waits (default a timer; tests on a simulated clock pass theirs). */
  readonly sleep?: Sleep;
}
