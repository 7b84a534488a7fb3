/**
 * Where a bulk copy keeps its progress: one JSON value in the store index
 * (`["bootstrap","copy"]`), replaced by a conditional write that expects the value as last read,
 * so an instance that lost the lease cannot move a copy another instance now runs. Losing it
 * costs a copy from the start again (every delta already stored is a duplicate), never a delta.
 */
import { z } from "zod";
import type { IndexKey, RegionStore } from "../store/region_store.ts";
import { logCursorSchema } from "./bootstrap_page.ts";

export const BOOTSTRAP_STATE_KEY: IndexKey = ["bootstrap", "copy"];

const copyStateSchema = z.strictObject({
  v: z.literal(1),
  /** The region copied from. */
  peer: z.string().min(1).max(32),
  /** Where the next page starts, in the peer's log. */
  cursor: logCursorSchema,
  status: z.enum(["copying", "done", "abandoned"]),
  /** Deltas newly stored by this copy, and pages stored. */
  stored: z.number().int().min(0),
  pages: z.number().int().min(0),
  startedAtMs: z.number().int().min(0),
  endedAtMs: z.number().int().min(0).nullable(),
  /** Why the copy was abandoned (null while copying or when done). */
  reason: z.string().max(500).nullable(),
});

export type CopyState = z.infer<typeof copyStateSchema>;

/** The copy recorded in `store` (null: none, or a value that does not parse) and its text. */
export async function readCopyState(
  store: RegionStore,
): Promise<{ state: CopyState | null; text: string | null }> {
  const [text] = await store.readIndex([BOOTSTRAP_STATE_KEY]);
  if (text === null) return { state: null, text };
  try {
    const parsed = copyStateSchema.safeParse(JSON.parse(text));
    return { state: parsed.success ? parsed.data : null, text };
  } catch {
    return { state: null, text };
  }
}

/**
 * Writes `state` where the stored text is still `expected` (null: absent); its text, or null
 * when another writer got there first (nothing written).
 */
export async function writeCopyState(
  store: RegionStore,
  state: CopyState,
  expected: string | null,
): Promise<string | null> {
  const text = JSON.stringify({ ...state, reason: state.reason?.slice(0, 500) ?? null });
  const written = await store.writeIndex({
    expect: [{ key: BOOTSTRAP_STATE_KEY, value: expected }],
    set: [{ key: BOOTSTRAP_STATE_KEY, value: text }],
  });
  return written ? text : null;
}
