// Everything the dashboard reads from the chain, through JSON-RPC with @ironroot/sdk. No keeper is
// involved here: the chain is the source of truth the keeper is checked against.
import { HistoryMirror, IronrootClient, ShardUpdated, historyRecordsOf, onchainTreeRoot, pda, web3 } from "@ironroot/sdk";
import { StakeReader } from "./stake";

type PublicKey = web3.PublicKey;
type BNLike = { toString(): string };

export interface ChainClock {
  slot: bigint;
  unixTimestamp: bigint;
  /** Local time (ms) when the clock was read: countdowns add the time since. */
  readAt: number;
}

export interface AllowedPair {
  measurement: Uint8Array;
  appId: Uint8Array;
  composeHash: Uint8Array;
  /** Worst TCB status accepted for this pair (registry numbering). */
  maxTcbStatus: number;
}

export interface GovernanceView {
  address: PublicKey;
  authority: PublicKey;
  pendingAuthority: PublicKey | null;
  clusterGenesisHash: Uint8Array;
  threshold: number;
  attesters: PublicKey[];
  /** (measurement, app identity, TCB floor) pairs a TEE may register with. */
  allowed: AllowedPair[];
  policy: { acceptedTcb: number; maxKeyLifetimeSecs: bigint; maxStatementAgeSecs: bigint; nonceFloor: bigint; requireQuoteSignatures: boolean };
}

export interface TeeView {
  address: PublicKey;
  teePubkey: PublicKey;
  measurement: Uint8Array;
  appId: Uint8Array;
  composeHash: Uint8Array;
  tcbStatus: number;
  registeredAt: bigint;
  refreshedAt: bigint;
  expiresAt: bigint;
  lastNonce: bigint;
  revoked: boolean;
  revokedAt: bigint;
}

export interface ShardView {
  address: PublicKey;
  shardId: number;
  seq: bigint;
  root: Uint8Array;
  manifestCid: Uint8Array;
  updatedSlot: bigint;
  lastSigner: PublicKey;
  /** The history tree holding the latest update's leaf, and that leaf's index. */
  historyTree: PublicKey;
  leafIndex: bigint;
}

/** One of an app's history trees (its `HistoryTree` record). */
export interface TreeView {
  index: number;
  tree: PublicKey;
  maxDepth: number;
  maxBufferSize: number;
  firstHistoryIndex: bigint;
  createdSlot: bigint;
}

export interface AppView {
  address: PublicKey;
  creator: PublicKey;
  publisher: PublicKey;
  pendingPublisher: PublicKey | null;
  status: "Active" | "Closing" | "Closed";
  appId: Uint8Array;
  maxDepth: number;
  maxBufferSize: number;
  shardCount: number;
  openShards: number;
  activeTree: PublicKey;
  activeTreeIndex: number;
  activeTreeLeaves: bigint;
  historyLen: bigint;
  createdSlot: bigint;
  policy: { allowed: { measurement: Uint8Array; appId: Uint8Array; composeHash: Uint8Array }[]; maxTcbStatus: number; blockedKeys: PublicKey[]; minKeyValiditySecs: bigint };
  shards: ShardView[];
  /** Every history tree, oldest first (the last is the active one). */
  trees: TreeView[];
}

const u8 = (v: number[] | Uint8Array) => Uint8Array.from(v);
const big = (v: BNLike) => BigInt(v.toString());

/** Thrown when an account the page needs does not exist (said in words by the page). */
export class AccountMissing extends Error {
  constructor(readonly what: string, readonly address: PublicKey) {
    super(`${what} (${address.toBase58()}) does not exist on this cluster`);
  }
}

export class ChainReader {
  readonly connection: web3.Connection;
  readonly client: IronrootClient;
  /** storage_stake: terms, stakes, challenges, events. */
  readonly stake: StakeReader;
  private readonly histories = new Map<string, HistoryCache>();

  constructor(readonly rpcUrl: string) {
    // No WebSocket subscriptions are used (the localnet's logs are not fit for them).
    this.connection = new web3.Connection(rpcUrl, { commitment: "confirmed", disableRetryOnRateLimit: true });
    this.client = IronrootClient.fromConnection(this.connection);
    this.stake = new StakeReader(this.connection, this.client.provider);
  }

  async clock(): Promise<ChainClock> {
    const info = await this.connection.getAccountInfo(web3.SYSVAR_CLOCK_PUBKEY, "confirmed");
    if (!info) throw new AccountMissing("The clock sysvar", web3.SYSVAR_CLOCK_PUBKEY);
    const view = new DataView(info.data.buffer, info.data.byteOffset, info.data.byteLength);
    return { slot: view.getBigUint64(0, true), unixTimestamp: view.getBigInt64(32, true), readAt: Date.now() };
  }

  async governance(): Promise<GovernanceView> {
    const address = pda.verifierConfig();
    const c = await this.client.fetchVerifierConfig();
    if (!c) throw new AccountMissing("The attestation verifier's governance config (governance has not initialised the verifier)", address);
    return {
      address,
      authority: c.authority,
      pendingAuthority: c.pendingAuthority ?? null,
      clusterGenesisHash: u8(c.clusterGenesisHash),
      threshold: c.threshold,
      attesters: c.attesters,
      allowed: c.allowed.map((a: { measurement: number[]; app: { appId: number[]; composeHash: number[] }; maxTcbStatus: number }) => ({
        measurement: u8(a.measurement),
        appId: u8(a.app.appId),
        composeHash: u8(a.app.composeHash),
        maxTcbStatus: a.maxTcbStatus,
      })),
      policy: { acceptedTcb: c.policy.acceptedTcb, maxKeyLifetimeSecs: big(c.policy.maxKeyLifetimeSecs), maxStatementAgeSecs: big(c.policy.maxStatementAgeSecs), nonceFloor: big(c.policy.nonceFloor), requireQuoteSignatures: c.policy.requireQuoteSignatures },
    };
  }

  /** Every TEE registry entry (getProgramAccounts filtered by the account discriminator). */
  async teeEntries(): Promise<TeeView[]> {
    const all = await this.client.registry.account.teeEntry.all();
    return all
      .map(({ publicKey, account: e }) => ({
        address: publicKey,
        teePubkey: e.teePubkey,
        measurement: u8(e.measurement),
        appId: u8(e.appId),
        composeHash: u8(e.composeHash),
        tcbStatus: e.tcbStatus,
        registeredAt: big(e.registeredAt),
        refreshedAt: big(e.refreshedAt),
        expiresAt: big(e.expiresAt),
        lastNonce: big(e.lastNonce),
        revoked: e.revoked,
        revokedAt: big(e.revokedAt),
      }))
      .sort((a, b) => Number(a.registeredAt - b.registeredAt));
  }

  /** Every app with its shard accounts and history trees. Addresses derive from the app account's. */
  async apps(): Promise<AppView[]> {
    const all = await this.client.appRoots.account.app.all();
    const apps = await Promise.all(
      all.map(async ({ publicKey, account: a }) => {
        const ids = Array.from({ length: a.shardCount }, (_, i) => i);
        const addresses = ids.map((id) => pda.shard(publicKey, id));
        const treeAddresses = Array.from({ length: a.activeTreeIndex + 1 }, (_, i) => pda.historyTree(publicKey, i));
        const [shards, trees] = await Promise.all([this.client.appRoots.account.shard.fetchMultiple(addresses), this.client.appRoots.account.historyTree.fetchMultiple(treeAddresses)]);
        return {
          address: publicKey,
          creator: a.creator,
          publisher: a.publisher,
          pendingPublisher: a.pendingPublisher ?? null,
          status: (Object.keys(a.status)[0] === "closing" ? "Closing" : Object.keys(a.status)[0] === "closed" ? "Closed" : "Active") as AppView["status"],
          appId: u8(a.appId),
          maxDepth: a.maxDepth,
          maxBufferSize: a.maxBufferSize,
          shardCount: a.shardCount,
          openShards: a.openShards,
          activeTree: a.activeTree,
          activeTreeIndex: a.activeTreeIndex,
          activeTreeLeaves: big(a.activeTreeLeaves),
          historyLen: big(a.historyLen),
          createdSlot: big(a.createdSlot),
          policy: {
            allowed: a.policy.allowed.map((p: { measurement: number[]; appId: number[]; composeHash: number[] }) => ({ measurement: u8(p.measurement), appId: u8(p.appId), composeHash: u8(p.composeHash) })),
            maxTcbStatus: a.policy.maxTcbStatus,
            blockedKeys: a.policy.blockedKeys,
            minKeyValiditySecs: big(a.policy.minKeyValiditySecs),
          },
          shards: shards.flatMap((s, i) =>
            s
              ? [{ address: addresses[i], shardId: s.shardId, seq: big(s.seq), root: u8(s.root), manifestCid: u8(s.manifestCid), updatedSlot: big(s.updatedSlot), lastSigner: s.lastSigner, historyTree: s.historyTree, leafIndex: big(s.leafIndex) }]
              : [],
          ),
          trees: trees.flatMap((t, i) =>
            t ? [{ index: i, tree: t.tree, maxDepth: t.maxDepth, maxBufferSize: t.maxBufferSize, firstHistoryIndex: big(t.firstHistoryIndex), createdSlot: big(t.createdSlot) }] : [],
          ),
        } satisfies AppView;
      }),
    );
    return apps.sort((a, b) => Number(a.createdSlot - b.createdSlot));
  }

  /** The current root of an app's history tree, read from the tree account. */
  async treeRoot(tree: PublicKey): Promise<{ root: Uint8Array; depth: number; sequenceNumber: bigint }> {
    const info = await this.connection.getAccountInfo(tree, "confirmed");
    if (!info) throw new AccountMissing("The app's history tree account", tree);
    return onchainTreeRoot(info.data);
  }

  /** One history tree of an app rebuilt from the chain (cached; new transactions are read incrementally). */
  history(app: PublicKey, tree: TreeView): HistoryCache {
    const key = tree.tree.toBase58();
    let cache = this.histories.get(key);
    if (!cache) {
      cache = new HistoryCache(this.connection, app, tree.tree, tree.index, tree.maxDepth);
      this.histories.set(key, cache);
    }
    return cache;
  }
}

/**
 * One of an app's history trees mirrored from the `ShardUpdated` records of the transactions that touched
 * its tree account. Every record is re-hashed (HistoryMirror.push) and the mirror's root is compared
 * with the tree account, so a lying RPC answer shows up as a mismatch, not as history.
 */
export class HistoryCache {
  private mirror: HistoryMirror;
  private seen = new Set<string>();
  private newest: string | undefined;
  /** Called while transactions are read (the verification page shows it). */
  onProgress: ((read: number, total: number) => void) | null = null;
  private pending: Promise<HistoryMirror> | null = null;

  constructor(private readonly connection: web3.Connection, readonly app: PublicKey, readonly tree: PublicKey, readonly treeIndex: number, readonly depth: number) {
    this.mirror = new HistoryMirror(app, tree, treeIndex, depth);
  }

  get records(): readonly ShardUpdated[] {
    return this.mirror.records;
  }

  /**
   * The history as the tree account had it with `leafCount` leaves (its sequence number: one per
   * append). Read the tree account first, then call this: commits that land in between are left
   * out, so the mirror and the account describe the same moment.
   */
  async at(leafCount: bigint): Promise<HistoryMirror> {
    let mirror = await this.refresh();
    if (BigInt(mirror.length) < leafCount) mirror = await this.refresh();
    if (BigInt(mirror.length) < leafCount) throw new Error(`The RPC returned ${mirror.length} history records for tree ${this.tree.toBase58()}, but the tree account holds ${leafCount} leaves.`);
    if (BigInt(mirror.length) === leafCount) return mirror;
    const prefix = new HistoryMirror(this.app, this.tree, this.treeIndex, this.depth);
    for (const r of mirror.records.slice(0, Number(leafCount))) prefix.push(r);
    return prefix;
  }

  /** Reads transactions newer than the last seen, oldest first, and appends their records. */
  refresh(): Promise<HistoryMirror> {
    this.pending ??= this.load().finally(() => (this.pending = null));
    return this.pending;
  }

  private async load(): Promise<HistoryMirror> {
    const fresh: web3.ConfirmedSignatureInfo[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await this.connection.getSignaturesForAddress(this.tree, { before, until: this.newest, limit: 1000 }, "confirmed");
      fresh.push(...page);
      if (page.length < 1000) break;
      before = page[page.length - 1].signature;
    }
    const ordered = fresh.filter((s) => !s.err && !this.seen.has(s.signature)).reverse();
    const txs: (web3.VersionedTransactionResponse | null)[] = [];
    for (let i = 0; i < ordered.length; i += 16) {
      const chunk = ordered.slice(i, i + 16);
      txs.push(...(await Promise.all(chunk.map((s) => this.connection.getTransaction(s.signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 })))));
      this.onProgress?.(txs.length, ordered.length);
    }
    const records: ShardUpdated[] = [];
    txs.forEach((tx, i) => {
      if (!tx) throw new Error(`transaction ${ordered[i].signature} is listed for the tree but the RPC did not return it`);
      // Only this tree's records: a transaction may touch several (rotation).
      records.push(...historyRecordsOf(tx).filter((r) => r.tree.equals(this.tree)));
    });
    // Signatures within a slot may come in any order: apply by leaf index.
    records.sort((a, b) => Number(a.leafIndex - b.leafIndex));
    for (const r of records) if (r.leafIndex >= BigInt(this.mirror.length)) this.mirror.push(r);
    for (const s of ordered) this.seen.add(s.signature);
    if (fresh.length > 0) this.newest = fresh[0].signature;
    return this.mirror;
  }
}

/**
 * The on-chain app a keeper serves. Its status names the app id only; app ids are per creator, so
 * among apps with that id prefer one whose shards the keeper's TEE key signed.
 */
export function keeperApp(apps: AppView[], status: { app: string; tee_pubkey: string }): AppView | null {
  const hexId = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const candidates = apps.filter((a) => hexId(a.appId) === status.app);
  return candidates.find((a) => a.shards.some((s) => s.lastSigner.toBase58() === status.tee_pubkey)) ?? candidates[0] ?? null;
}
