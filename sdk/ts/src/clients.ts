// Typed clients for every instruction of the three programs, on @coral-xyz/anchor 0.31 and the
// committed IDLs. Builders return `TransactionInstruction`s with every account passed explicitly
// (`accountsStrict`, the same metas as sdk/rust); the IDLs carry no PDA resolution (Anchor.toml:
// resolution = false).
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

export interface AppPolicy {
  measurements: (Uint8Array | string)[];
  identities: AppIdentity[];
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

const policyArg = (p: Policy) => ({ acceptedTcb: p.acceptedTcb, maxKeyLifetimeSecs: bn(p.maxKeyLifetimeSecs), maxStatementAgeSecs: bn(p.maxStatementAgeSecs), nonceFloor: bn(p.nonceFloor) });
const identityArg = (a: AppIdentity) => ({ appId: arr32(a.appId), composeHash: arr32(a.composeHash) });
const appPolicyArg = (p: AppPolicy) => ({ measurements: p.measurements.map(arr32), identities: p.identities.map(identityArg), minKeyValiditySecs: bn(p.minKeyValiditySecs) });

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

  addMeasurement(authority: PublicKey, measurement: Uint8Array | string): Promise<TransactionInstruction> {
    return this.verifier.methods.addMeasurement(arr32(measurement)).accountsStrict(this.governed(authority)).instruction();
  }

  removeMeasurement(authority: PublicKey, measurement: Uint8Array | string): Promise<TransactionInstruction> {
    return this.verifier.methods.removeMeasurement(arr32(measurement)).accountsStrict(this.governed(authority)).instruction();
  }

  addApp(authority: PublicKey, app: AppIdentity): Promise<TransactionInstruction> {
    return this.verifier.methods.addApp(identityArg(app)).accountsStrict(this.governed(authority)).instruction();
  }

  removeApp(authority: PublicKey, app: AppIdentity): Promise<TransactionInstruction> {
    return this.verifier.methods.removeApp(identityArg(app)).accountsStrict(this.governed(authority)).instruction();
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
   * Allocates the tree account (owned by spl-account-compression) and creates the app in one
   * transaction. Signers: `publisher` and `tree`. `treeLamports` defaults to the tree's rent.
   */
  async createAppInstructions(publisher: PublicKey, tree: PublicKey, args: CreateAppArgs, treeLamports?: number): Promise<TransactionInstruction[]> {
    if (!ALLOWED_TREE_SHAPES.some(([d, b]) => d === args.maxDepth && b === args.maxBufferSize)) throw new Error(`tree shape (${args.maxDepth}, ${args.maxBufferSize}) is not supported`);
    const space = treeAccountSize(args.maxDepth, args.maxBufferSize);
    const lamports = treeLamports ?? (await this.connection.getMinimumBalanceForRentExemption(space));
    const allocate = SystemProgram.createAccount({ fromPubkey: publisher, newAccountPubkey: tree, lamports, space, programId: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID });
    return [allocate, await this.createApp(publisher, tree, args)];
  }

  createApp(publisher: PublicKey, tree: PublicKey, args: CreateAppArgs): Promise<TransactionInstruction> {
    return this.appRoots.methods
      .createApp({ appId: arr32(args.appId), shardCount: args.shardCount, maxDepth: args.maxDepth, maxBufferSize: args.maxBufferSize, policy: appPolicyArg(args.policy) })
      .accountsStrict({ publisher, app: pda.app(args.appId), tree, compressionProgram: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID, noopProgram: SPL_NOOP_PROGRAM_ID, systemProgram: SystemProgram.programId })
      .instruction();
  }

  initShard(publisher: PublicKey, appId: Uint8Array | string, shardId: number): Promise<TransactionInstruction> {
    const app = pda.app(appId);
    return this.appRoots.methods.initShard(shardId).accountsStrict({ publisher, app, shard: pda.shard(app, shardId), systemProgram: SystemProgram.programId }).instruction();
  }

  /** A shard update signed by `tee`; the fee payer is the transaction's, not an account here. */
  updateShard(tee: PublicKey, appId: Uint8Array | string, tree: PublicKey, args: UpdateShardArgs): Promise<TransactionInstruction> {
    const app = pda.app(appId);
    return this.appRoots.methods
      .updateShard({ shardId: args.shardId, prevRoot: arr32(args.prevRoot), newRoot: arr32(args.newRoot), newSeq: bn(args.newSeq), manifestCid: Buffer.from(args.manifestCid) })
      .accountsStrict({ tee, teeEntry: pda.teeEntry(tee), app, shard: pda.shard(app, args.shardId), tree, compressionProgram: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID, noopProgram: SPL_NOOP_PROGRAM_ID })
      .instruction();
  }

  setAppPolicy(publisher: PublicKey, appId: Uint8Array | string, policy: AppPolicy): Promise<TransactionInstruction> {
    return this.appRoots.methods.setPolicy(appPolicyArg(policy)).accountsStrict({ publisher, app: pda.app(appId) }).instruction();
  }

  /** Closes the app and the given shard accounts (every open shard must be listed). */
  closeApp(publisher: PublicKey, appId: Uint8Array | string, shardIds: number[]): Promise<TransactionInstruction> {
    const app = pda.app(appId);
    return this.appRoots.methods
      .closeApp()
      .accountsStrict({ publisher, app })
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

  fetchApp(appId: Uint8Array | string) {
    return this.appRoots.account.app.fetchNullable(pda.app(appId));
  }

  fetchShard(appId: Uint8Array | string, shardId: number) {
    return this.appRoots.account.shard.fetchNullable(pda.shard(pda.app(appId), shardId));
  }
}

export { AnchorProvider, BN, Keypair };
