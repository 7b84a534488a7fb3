/** An agent's ed25519 identity: generate, save to and load from a key file. */
import { z } from "zod";
import { generateKeyPair, publicKeyFromSecret } from "./ed25519.ts";
import { type AsyncSigner, createSigner, signEd25519 } from "./ed25519_sign.ts";
import { x25519SecretFromEd25519Seed } from "./x25519.ts";
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";

const keyFileSchema = z.strictObject({
  v: z.literal(1),
  secretKey: z.string().length(43),
  publicKey: z.string().length(43),
});

export class AgentKey {
  readonly #secret: Uint8Array;
  #signer: AsyncSigner | null = null;
  /** The agent id: its public key as unpadded base64url (43 characters). */
  readonly id: string;

  private constructor(secret: Uint8Array) {
    this.#secret = secret;
    this.id = encodeBase64Url(publicKeyFromSecret(secret));
  }

  static generate(): AgentKey {
    return new AgentKey(generateKeyPair().secretKey);
  }

  /** From a 32-byte secret seed as unpadded base64url. */
  static fromSecret(secret: string): AgentKey {
    const bytes = decodeBase64Url(secret);
    if (bytes === null || bytes.length !== 32) {
      throw new TypeError(
        "Cannot load agent key as the secret is not 32 bytes of base64url",
      );
    }
    return new AgentKey(bytes);
  }

  /** Signs raw bytes; returns the 64-byte signature. */
  sign(message: Uint8Array): Uint8Array {
    return signEd25519(this.#secret, message);
  }

  /**
   * Signs raw bytes to what {@linkcode AgentKey.sign} gives (Ed25519 is deterministic), on
   * `createSigner`'s backend: `node:crypto` at once, else WebCrypto off the event loop, else noble.
   * Signatures resolve in the order asked.
   */
  signAsync(message: Uint8Array): Promise<Uint8Array> {
    this.#signer ??= createSigner(this.#secret);
    return this.#signer(message);
  }

  /**
   * The X25519 secret key derived from this identity (SHA-512 of the seed, clamped), for opening
   * messages sealed to {@linkcode AgentKey.id}. A fresh 32-byte copy on each call; the seed itself
   * never leaves the key.
   */
  x25519SecretKey(): Uint8Array {
    return x25519SecretFromEd25519Seed(this.#secret);
  }

  /** Key-file JSON text: `{"v":1,"secretKey","publicKey"}`. Keep it private (mode 0600). */
  toFileText(): string {
    return JSON.stringify(
      { v: 1, secretKey: encodeBase64Url(this.#secret), publicKey: this.id },
      null,
      2,
    ) +
      "\n";
  }

  static fromFileText(text: string, path = "key file"): AgentKey {
    const parsed = keyFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new TypeError(
        `Cannot load agent key as ${path} is not a v1 key file`,
      );
    }
    const key = AgentKey.fromSecret(parsed.data.secretKey);
    if (key.id !== parsed.data.publicKey) {
      throw new TypeError(
        `Cannot load agent key as ${path} has a publicKey that does not match its secretKey`,
      );
    }
    return key;
  }

  static async load(path: string): Promise<AgentKey> {
    return AgentKey.fromFileText(await Deno.readTextFile(path), path);
  }

  async save(path: string): Promise<void> {
    await Deno.writeTextFile(path, this.toFileText(), {
      mode: 0o600,
      createNew: true,
    });
  }
}
