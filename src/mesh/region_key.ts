/**
 * A region's own ed25519 key, which signs its messages to other regions. From MESH_REGION_KEY
 * (the 32-byte secret seed as base64url) or else the key file `<MESH_DATA>/<region>.key.json`,
 * created on first start. The public key must match the region's entry in the topology.
 */
import { AgentKey } from "../crypto/agent_key.ts";

export async function loadRegionKey(
  region: string,
  dataDir: string,
  secret: string | undefined,
): Promise<{ key: AgentKey; source: string; created: boolean }> {
  if (secret !== undefined) {
    return { key: AgentKey.fromSecret(secret), source: "MESH_REGION_KEY", created: false };
  }
  const path = `${dataDir}/${region}.key.json`;
  try {
    return { key: await AgentKey.load(path), source: path, created: false };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const key = AgentKey.generate();
  await key.save(path);
  return { key, source: path, created: true };
}
