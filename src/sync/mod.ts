/** The public face of src/sync/: what other folders may use. Files starting with _ stay private. */
export * from "./id_trie.ts";
export * from "./range_reconcile.ts";
