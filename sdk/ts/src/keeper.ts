// HTTP client for the keeper API (keeper/src/api.rs). Clients verify what the keeper returns
// themselves: see `verifyProofResponse` and `verifyAgainstChain`.
import { bytesEqual, hexToBytes } from "./bytes";
import { LeafJson, TreeKeyMode, leafFromJson, recordKeyHash, verifyRecordProofAt } from "./jmt";

export interface WriteResponse {
  key: string;
  shard: number;
  version: number;
  root: string;
}

export interface RecordResponse {
  key: string;
  shard: number;
  /** Base64 value. */
  value: string;
  leaf: LeafJson;
  root: string;
  committed: boolean;
  seq: number;
}

export interface ProofResponse {
  key: string;
  shard: number;
  /** Hex tree position the proof is about (absent from keepers before tree key modes: SHA-256 of the key). */
  key_hash?: string;
  /** The app's tree key mode (absent: `public`). */
  tree_key_mode?: TreeKeyMode;
  leaf: LeafJson | null;
  root: string;
  committed: boolean;
  seq: number;
  /** Hex of borsh(jmt SparseMerkleProof<Sha256>). */
  proof: string;
}

export interface BatchWriteItem {
  key: string;
  value?: Uint8Array | string;
  delete?: boolean;
}

export interface ShardStatus {
  shard: number;
  serving: boolean;
  failed_closed: string | null;
  local_seq: number | null;
  local_root: string | null;
  onchain_seq: number | null;
  onchain_root: string | null;
  pending_writes: number | null;
  pending_seq: number | null;
  last_commit_slot: number | null;
  key_epoch: number | null;
  records: number | null;
}

export interface StatusResponse {
  app: string;
  shard_count: number;
  tee_pubkey: string;
  shards: ShardStatus[];
}

export interface HealthResponse {
  status: string;
  ipfs_reachable: boolean;
  chain_reachable: boolean;
  shards_serving: number;
  shards_failed_closed: number;
}

/** A keeper error: `{"error": {"code", "message", "details"}}` with the HTTP status. */
export class KeeperError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { field: string; problem: string }[] = [],
  ) {
    super(`${code}: ${message}`);
  }
}

const b64 = (v: Uint8Array | string) => Buffer.from(typeof v === "string" ? Buffer.from(v, "utf8") : v).toString("base64");

export class KeeperClient {
  private readonly base: string;
  /** `apiToken`: the keeper's data API bearer token, when it requires one. */
  constructor(
    baseUrl: string,
    readonly app: string,
    private readonly fetchImpl: typeof fetch = fetch,
    private readonly apiToken?: string,
  ) {
    this.base = baseUrl.replace(/\/+$/, "");
  }

  private async request<T>(method: string, path: string, body?: string | Buffer, contentType?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (contentType) headers["content-type"] = contentType;
    if (this.apiToken) headers["authorization"] = `Bearer ${this.apiToken}`;
    const res = await this.fetchImpl(this.base + path, { method, body, headers });
    const text = await res.text();
    const json = text ? JSON.parse(text) : {};
    if (!res.ok) {
      const e = json?.error ?? {};
      throw new KeeperError(res.status, e.code ?? "HTTP", e.message ?? res.statusText, e.details ?? []);
    }
    return json as T;
  }

  private record(key: string): string {
    return `/v1/apps/${encodeURIComponent(this.app)}/records/${encodeURIComponent(key)}`;
  }

  private query(expectedRoot?: string): string {
    return expectedRoot ? `?expected_root=${expectedRoot}` : "";
  }

  put(key: string, value: Uint8Array | string, expectedRoot?: string): Promise<WriteResponse> {
    const body = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
    return this.request("PUT", this.record(key) + this.query(expectedRoot), body, "application/octet-stream");
  }

  get(key: string): Promise<RecordResponse> {
    return this.request("GET", this.record(key));
  }

  /** The value of a record, decoded from base64. */
  async getValue(key: string): Promise<Uint8Array> {
    return Uint8Array.from(Buffer.from((await this.get(key)).value, "base64"));
  }

  delete(key: string, expectedRoot?: string): Promise<WriteResponse> {
    return this.request("DELETE", this.record(key) + this.query(expectedRoot));
  }

  proof(key: string): Promise<ProofResponse> {
    return this.request("GET", this.record(key) + "/proof");
  }

  batchWrite(writes: BatchWriteItem[]): Promise<{ results: WriteResponse[] }> {
    const body = { writes: writes.map((w) => ({ key: w.key, value: w.value === undefined ? undefined : b64(w.value), delete: w.delete ?? false })) };
    return this.request("POST", `/v1/apps/${encodeURIComponent(this.app)}/batch/write`, JSON.stringify(body), "application/json");
  }

  batchRead(keys: string[]): Promise<{ records: (RecordResponse | null)[] }> {
    return this.request("POST", `/v1/apps/${encodeURIComponent(this.app)}/batch/read`, JSON.stringify({ keys }), "application/json");
  }

  status(): Promise<StatusResponse> {
    return this.request("GET", "/v1/status");
  }

  health(): Promise<HealthResponse> {
    return this.request("GET", "/health");
  }
}

/**
 * The tree position a proof response is about, or null when it is inconsistent. `public`: SHA-256
 * of the key, computed here (a `key_hash` naming anything else is refused). `keyed`: the position
 * the keeper names (it alone can compute it). With `expectedMode`, a response in the other mode is
 * refused, so a keeper cannot turn a public app's checkable proof into a keyed one.
 */
export function proofPosition(p: ProofResponse, expectedMode?: TreeKeyMode): Uint8Array | null {
  const mode = p.tree_key_mode ?? "public";
  if (expectedMode !== undefined && mode !== expectedMode) return null;
  if (mode === "public") {
    const derived = recordKeyHash(p.key);
    if (p.key_hash !== undefined && !bytesEqual(hexToBytes(p.key_hash), derived)) return null;
    return derived;
  }
  if (mode !== "keyed" || p.key_hash === undefined || !/^[0-9a-f]{64}$/i.test(p.key_hash)) return null;
  return hexToBytes(p.key_hash);
}

/**
 * Record → shard root: checks a keeper proof response on its own terms (its key, leaf and root).
 * In keyed mode this shows the leaf (or nothing) at the position the keeper named, not that the
 * position is the key's.
 */
export function verifyProofResponse(p: ProofResponse, expectedMode?: TreeKeyMode): boolean {
  const position = proofPosition(p, expectedMode);
  return position !== null && verifyRecordProofAt(hexToBytes(p.root), position, p.leaf ? leafFromJson(p.leaf) : null, p.proof);
}
