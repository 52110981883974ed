// Typed clients for every instruction of the three programs, on @coral-xyz/anchor 0.31 and the
// committed IDLs. Builders return `TransactionInstruction`s with every account passed explicitly
// (`accountsStrict`, the same metas as sdk/rust). The IDLs also carry PDA seeds and fixed
// addresses (Anchor.toml: resolution = true), so a plain Anchor client can use `.accounts()` and
// let Anchor derive them.
import { AnchorProvider, BN, Program, Provider } from "@coral-xyz/anchor";
import { Connection, Keypair, PublicKey, SYSVAR_INSTRUCTIONS_PUBKEY, SystemProgram, TransactionInstruction } from "@solana/web3.js";
import { AttestationStatement, StatementSignature, ed25519Instruction, encodeStatement } from "./attestation";
import { bytes32 } from "./bytes";
import { ALLOWED_TREE_SHAPES, ATTESTATION_VERIFIER_PROGRAM_ID, SPL_ACCOUNT_COMPRESSION_PROGRAM_ID, SPL_NOOP_PROGRAM_ID, TEE_REGISTRY_PROGRAM_ID } from "./constants";
import { AppRoots, AppRootsIdl } from "./idl/app_roots";
import { AttestationVerifier, AttestationVerifierIdl } from "./idl/attestation_verifier";
import { TeeRegistry, TeeRegistryIdl } from "./idl/tee_registry";
import { pda } from "./pda";

const arr32 = (v: Uint8Array | string | number[]): number[] => Array.from(bytes32(v));
const bn = (v: bigint | number): BN => new BN(v.toString());

export interface Policy {
  acceptedTcb: number;
  maxKeyLifetimeSecs: bigint | number;
  maxStatementAgeSecs: bigint | number;
  nonceFloor: bigint | number;
  /** `register_tee` also requires the quote's own P-256 signatures checked on-chain (default false). */
  requireQuoteSignatures?: boolean;
}

export interface AppIdentity {
  appId: Uint8Array | string;
  composeHash: Uint8Array | string;
}

export interface InitializeArgs {
  authority: PublicKey;
  clusterGenesisHash: Uint8Array | string;
  attesters: PublicKey[];
  threshold: number;
  policy: Policy;
}

/** Governance's allow-list entry: a (measurement, app identity) pair and its TCB floor. */
export interface VerifierAllowedTee {
  measurement: Uint8Array | string;
  app: AppIdentity;
  /** Worst TCB status accepted for this pair (TcbStatus; Revoked never). */
  maxTcbStatus: number;
}

/** An app policy entry: a key passes only if its own (measurement, app id, compose hash) is listed. */
export interface AllowedTee {
  measurement: Uint8Array | string;
  appId: Uint8Array | string;
  composeHash: Uint8Array | string;
}

export interface AppPolicy {
  allowed: AllowedTee[];
  /** TCB floor: the worst TcbStatus accepted (0 = UpToDate only, at most 5). */
  maxTcbStatus: number;
  blockedKeys: PublicKey[];
  minKeyValiditySecs: bigint | number;
}

export interface CreateAppArgs {
  appId: Uint8Array | string;
  shardCount: number;
  maxDepth: number;
  maxBufferSize: number;
  policy: AppPolicy;
}

export interface UpdateShardArgs {
  shardId: number;
  prevRoot: Uint8Array | string;
  newRoot: Uint8Array | string;
  newSeq: bigint | number;
  manifestCid: Uint8Array;
}

/** tee_registry `register` arguments (only the verifier's PDA can sign it; for CPI-level tooling). */
export interface RegisterArgs {
  teePubkey: PublicKey;
  measurement: Uint8Array | string;
  appId: Uint8Array | string;
  composeHash: Uint8Array | string;
  statementHash: Uint8Array | string;
  quoteHash: Uint8Array | string;
  tcbStatus: number;
  nonce: bigint | number;
  expiresAt: bigint | number;
}

const policyArg = (p: Policy) => ({ acceptedTcb: p.acceptedTcb, maxKeyLifetimeSecs: bn(p.maxKeyLifetimeSecs), maxStatementAgeSecs: bn(p.maxStatementAgeSecs), nonceFloor: bn(p.nonceFloor), requireQuoteSignatures: p.requireQuoteSignatures ?? false });
const identityArg = (a: AppIdentity) => ({ appId: arr32(a.appId), composeHash: arr32(a.composeHash) });
const allowedArg = (a: AllowedTee) => ({ measurement: arr32(a.measurement), appId: arr32(a.appId), composeHash: arr32(a.composeHash) });
const appPolicyArg = (p: AppPolicy) => ({ allowed: p.allowed.map(allowedArg), maxTcbStatus: p.maxTcbStatus, blockedKeys: p.blockedKeys, minKeyValiditySecs: bn(p.minKeyValiditySecs) });

/** Bytes of a `HistoryTree` record (8 + HistoryTree::INIT_SPACE): with the tree's rent, what one rotation costs. */
export const HISTORY_TREE_ACCOUNT_SIZE = 8 + 32 + 4 + 32 + 4 + 4 + 8 + 8 + 1;

/** Size of the root-history tree account for a shape (programs/app_roots/src/state.rs::tree_account_size). */
export function treeAccountSize(maxDepth: number, maxBufferSize: number): number {
  return 56 + 24 + (maxBufferSize + 1) * (32 * (maxDepth + 1) + 8);
}

/** A provider that can only read and build instructions (no wallet). */
export function readOnlyProvider(connection: Connection): Provider {
  return { connection } as Provider;
}

/** The three Anchor programs plus instruction builders and account fetchers. */
export class IronrootClient {
  readonly verifier: Program<AttestationVerifier>;
  readonly registry: Program<TeeRegistry>;
  readonly appRoots: Program<AppRoots>;

  constructor(readonly provider: Provider) {
    this.verifier = new Program<AttestationVerifier>(AttestationVerifierIdl, provider);
    this.registry = new Program<TeeRegistry>(TeeRegistryIdl, provider);
    this.appRoots = new Program<AppRoots>(AppRootsIdl, provider);
  }

  static fromConnection(connection: Connection): IronrootClient {
    return new IronrootClient(readOnlyProvider(connection));
  }

  get connection(): Connection {
    return this.provider.connection;
  }

  // ---------- attestation_verifier ----------

  /** Creates the governance config; only the verifier's upgrade authority may sign. */
  initialize(upgradeAuthority: PublicKey, args: InitializeArgs): Promise<TransactionInstruction> {
    return this.verifier.methods
      .initialize({ authority: args.authority, clusterGenesisHash: arr32(args.clusterGenesisHash), attesters: args.attesters, threshold: args.threshold, policy: policyArg(args.policy) })
      .accountsStrict({ upgradeAuthority, programData: pda.programData(ATTESTATION_VERIFIER_PROGRAM_ID), config: pda.verifierConfig(), systemProgram: SystemProgram.programId })
      .instruction();
  }

  /** `register_tee` alone; see {@link registerTeeInstructions}. */
  registerTee(payer: PublicKey, tee: PublicKey): Promise<TransactionInstruction> {
    return this.verifier.methods
      .registerTee()
      .accountsStrict({
        payer,
        tee,
        config: pda.verifierConfig(),
        verifierAuthority: pda.verifierAuthority(),
        teeEntry: pda.teeEntry(tee),
        // Only needed when governance requires the quote's signatures on-chain (Rust SDK: register_tee_with_quote).
        quoteBuffer: null,
        instructions: SYSVAR_INSTRUCTIONS_PUBKEY,
        teeRegistryProgram: TEE_REGISTRY_PROGRAM_ID,
        systemProgram: SystemProgram.programId,
      })
      .instruction();
  }

  /** The precompile carrying the statement and attester signatures, then `register_tee` (signers: payer and the TEE key). */
  async registerTeeInstructions(payer: PublicKey, st: AttestationStatement, signatures: StatementSignature[]): Promise<TransactionInstruction[]> {
    return [ed25519Instruction(encodeStatement(st), signatures), await this.registerTee(payer, st.teePubkey)];
  }

  revokeTee(authority: PublicKey, tee: PublicKey): Promise<TransactionInstruction> {
    return this.verifier.methods
      .revokeTee()
      .accountsStrict({ authority, config: pda.verifierConfig(), verifierAuthority: pda.verifierAuthority(), teeEntry: pda.teeEntry(tee), teeRegistryProgram: TEE_REGISTRY_PROGRAM_ID })
      .instruction();
  }

  private governed(authority: PublicKey) {
    return { authority, config: pda.verifierConfig() };
  }

  setAttesters(authority: PublicKey, attesters: PublicKey[], threshold: number): Promise<TransactionInstruction> {
    return this.verifier.methods.setAttesters(attesters, threshold).accountsStrict(this.governed(authority)).instruction();
  }

  /** Allows a (measurement, app identity) pair with its TCB floor. */
  addAllowed(authority: PublicKey, allowed: VerifierAllowedTee): Promise<TransactionInstruction> {
    return this.verifier.methods
      .addAllowed({ measurement: arr32(allowed.measurement), app: identityArg(allowed.app), maxTcbStatus: allowed.maxTcbStatus })
      .accountsStrict(this.governed(authority))
      .instruction();
  }

  removeAllowed(authority: PublicKey, measurement: Uint8Array | string, app: AppIdentity): Promise<TransactionInstruction> {
    return this.verifier.methods.removeAllowed(arr32(measurement), identityArg(app)).accountsStrict(this.governed(authority)).instruction();
  }

  setVerifierPolicy(authority: PublicKey, policy: Policy): Promise<TransactionInstruction> {
    return this.verifier.methods.setPolicy(policyArg(policy)).accountsStrict(this.governed(authority)).instruction();
  }

  proposeAuthority(authority: PublicKey, newAuthority: PublicKey): Promise<TransactionInstruction> {
    return this.verifier.methods.proposeAuthority(newAuthority).accountsStrict(this.governed(authority)).instruction();
  }

  acceptAuthority(newAuthority: PublicKey): Promise<TransactionInstruction> {
    return this.verifier.methods.acceptAuthority().accountsStrict({ newAuthority, config: pda.verifierConfig() }).instruction();
  }

  // ---------- tee_registry (signed by the verifier's PDA through CPI only) ----------

  registryRegister(verifierAuthority: PublicKey, payer: PublicKey, args: RegisterArgs): Promise<TransactionInstruction> {
    return this.registry.methods
      .register({
        teePubkey: args.teePubkey,
        measurement: arr32(args.measurement),
        appId: arr32(args.appId),
        composeHash: arr32(args.composeHash),
        statementHash: arr32(args.statementHash),
        quoteHash: arr32(args.quoteHash),
        tcbStatus: args.tcbStatus,
        nonce: bn(args.nonce),
        expiresAt: bn(args.expiresAt),
      })
      .accountsStrict({ verifierAuthority, payer, entry: pda.teeEntry(args.teePubkey), systemProgram: SystemProgram.programId })
      .instruction();
  }

  registryRevoke(verifierAuthority: PublicKey, tee: PublicKey): Promise<TransactionInstruction> {
    return this.registry.methods.revoke().accountsStrict({ verifierAuthority, entry: pda.teeEntry(tee) }).instruction();
  }

  // ---------- app_roots ----------

  /** Rent of the tree account for a shape. */
  async treeRent(maxDepth: number, maxBufferSize: number): Promise<number> {
    return this.connection.getMinimumBalanceForRentExemption(treeAccountSize(maxDepth, maxBufferSize));
  }

  /**
   * Allocates the tree account (owned by spl-account-compression) and creates the app at
   * `pda.app(publisher, appId)` in one transaction. Signers: `publisher` and `tree`.
   * `treeLamports` defaults to the tree's rent.
   */
  async createAppInstructions(publisher: PublicKey, tree: PublicKey, args: CreateAppArgs, treeLamports?: number): Promise<TransactionInstruction[]> {
    if (!ALLOWED_TREE_SHAPES.some(([d, b]) => d === args.maxDepth && b === args.maxBufferSize)) throw new Error(`tree shape (${args.maxDepth}, ${args.maxBufferSize}) is not supported`);
    const space = treeAccountSize(args.maxDepth, args.maxBufferSize);
    const lamports = treeLamports ?? (await this.connection.getMinimumBalanceForRentExemption(space));
    const allocate = SystemProgram.createAccount({ fromPubkey: publisher, newAccountPubkey: tree, lamports, space, programId: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID });
    return [allocate, await this.createApp(publisher, tree, args)];
  }

  createApp(publisher: PublicKey, tree: PublicKey, args: CreateAppArgs): Promise<TransactionInstruction> {
    const app = pda.app(publisher, args.appId);
    return this.appRoots.methods
      .createApp({ appId: arr32(args.appId), shardCount: args.shardCount, maxDepth: args.maxDepth, maxBufferSize: args.maxBufferSize, policy: appPolicyArg(args.policy) })
      .accountsStrict({ publisher, app, historyRecord: pda.historyTree(app, 0), tree, compressionProgram: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID, noopProgram: SPL_NOOP_PROGRAM_ID, systemProgram: SystemProgram.programId })
      .instruction();
  }

  initShard(publisher: PublicKey, app: PublicKey, shardId: number): Promise<TransactionInstruction> {
    return this.appRoots.methods.initShard(shardId).accountsStrict({ publisher, app, shard: pda.shard(app, shardId), systemProgram: SystemProgram.programId }).instruction();
  }

  /** A shard update signed by `tee` into the app's active tree `tree`; the fee payer is the transaction's, not an account here. */
  updateShard(tee: PublicKey, app: PublicKey, tree: PublicKey, args: UpdateShardArgs): Promise<TransactionInstruction> {
    return this.appRoots.methods
      .updateShard({ shardId: args.shardId, prevRoot: arr32(args.prevRoot), newRoot: arr32(args.newRoot), newSeq: bn(args.newSeq), manifestCid: Buffer.from(args.manifestCid) })
      .accountsStrict({ tee, teeEntry: pda.teeEntry(tee), app, shard: pda.shard(app, args.shardId), tree, compressionProgram: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID, noopProgram: SPL_NOOP_PROGRAM_ID })
      .instruction();
  }

  /**
   * Allocates the next history tree (paid by `cranker`, signer together with `newTree`) and rotates
   * the app onto it; `treeIndex` is the app's `activeTreeIndex + 1`. The publisher may rotate any
   * time; anyone else once the active tree is nearly full, reimbursed from the app's reserve.
   */
  async rotateHistoryInstructions(cranker: PublicKey, app: PublicKey, newTree: PublicKey, treeIndex: number, maxDepth: number, maxBufferSize: number, treeLamports?: number): Promise<TransactionInstruction[]> {
    const space = treeAccountSize(maxDepth, maxBufferSize);
    const lamports = treeLamports ?? (await this.connection.getMinimumBalanceForRentExemption(space));
    const allocate = SystemProgram.createAccount({ fromPubkey: cranker, newAccountPubkey: newTree, lamports, space, programId: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID });
    const rotate = await this.appRoots.methods
      .rotateHistory(treeIndex)
      .accountsStrict({ cranker, app, historyRecord: pda.historyTree(app, treeIndex), newTree, compressionProgram: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID, noopProgram: SPL_NOOP_PROGRAM_ID, systemProgram: SystemProgram.programId })
      .instruction();
    return [allocate, rotate];
  }

  setAppPolicy(publisher: PublicKey, app: PublicKey, policy: AppPolicy): Promise<TransactionInstruction> {
    return this.appRoots.methods.setPolicy(appPolicyArg(policy)).accountsStrict({ publisher, app }).instruction();
  }

  proposePublisher(publisher: PublicKey, app: PublicKey, newPublisher: PublicKey): Promise<TransactionInstruction> {
    return this.appRoots.methods.proposePublisher(newPublisher).accountsStrict({ publisher, app }).instruction();
  }

  acceptPublisher(newPublisher: PublicKey, app: PublicKey): Promise<TransactionInstruction> {
    return this.appRoots.methods.acceptPublisher().accountsStrict({ newPublisher, app }).instruction();
  }

  /** Stops the app; then close its shards with `closeShards` in batches. */
  beginClose(publisher: PublicKey, app: PublicKey): Promise<TransactionInstruction> {
    return this.appRoots.methods.beginClose().accountsStrict({ publisher, app }).instruction();
  }

  /** Closes a batch of shard accounts (anyone may send it once the app is closing); rent goes to the app's publisher. */
  closeShards(app: PublicKey, publisher: PublicKey, shardIds: number[]): Promise<TransactionInstruction> {
    return this.appRoots.methods
      .closeShards()
      .accountsStrict({ app, publisher })
      .remainingAccounts(shardIds.map((id) => ({ pubkey: pda.shard(app, id), isSigner: false, isWritable: true })))
      .instruction();
  }

  // ---------- account fetchers (null when the account does not exist) ----------

  fetchVerifierConfig() {
    return this.verifier.account.verifierConfig.fetchNullable(pda.verifierConfig());
  }

  fetchTeeEntry(tee: PublicKey) {
    return this.registry.account.teeEntry.fetchNullable(pda.teeEntry(tee));
  }

  fetchApp(app: PublicKey) {
    return this.appRoots.account.app.fetchNullable(app);
  }

  fetchShard(app: PublicKey, shardId: number) {
    return this.appRoots.account.shard.fetchNullable(pda.shard(app, shardId));
  }

  fetchHistoryTree(app: PublicKey, index: number) {
    return this.appRoots.account.historyTree.fetchNullable(pda.historyTree(app, index));
  }
}

export { AnchorProvider, BN, Keypair };
