// storage_stake: PDAs, instruction builders, fetchers, the challenge target rule and the compact
// proof the program checks (programs/storage_stake/src/jmt.rs), from the keeper's jmt proofs.
import { BN, Program, Provider } from "@coral-xyz/anchor";
import { AccountMeta, PublicKey, SYSVAR_SLOT_HASHES_PUBKEY, SystemProgram, TransactionInstruction } from "@solana/web3.js";
import { bytes32, bytesEqual, sha256Of, u64le } from "./bytes";
import { STORAGE_STAKE_PROGRAM_ID } from "./constants";
import { StorageStake, StorageStakeIdl } from "./idl/storage_stake";
import { SPARSE_MERKLE_PLACEHOLDER_HASH, SparseMerkleProof, internalNodeHash, leafNodeHash, nodeHash } from "./jmt";
import { pda } from "./pda";

export const TERMS_SEED = Buffer.from("terms");
export const STAKE_SEED = Buffer.from("stake");
export const VAULT_SEED = Buffer.from("vault");
export const ESCROW_SEED = Buffer.from("escrow");
export const TARGET_DOMAIN = Buffer.from("ironroot:challenge:v1");

export const stakePda = {
  terms(app: PublicKey): PublicKey {
    return PublicKey.findProgramAddressSync([TERMS_SEED, app.toBuffer()], STORAGE_STAKE_PROGRAM_ID)[0];
  },
  stake(app: PublicKey, provider: PublicKey): PublicKey {
    return PublicKey.findProgramAddressSync([STAKE_SEED, app.toBuffer(), provider.toBuffer()], STORAGE_STAKE_PROGRAM_ID)[0];
  },
  vault(stake: PublicKey): PublicKey {
    return PublicKey.findProgramAddressSync([VAULT_SEED, stake.toBuffer()], STORAGE_STAKE_PROGRAM_ID)[0];
  },
  escrow(stake: PublicKey): PublicKey {
    return PublicKey.findProgramAddressSync([ESCROW_SEED, stake.toBuffer()], STORAGE_STAKE_PROGRAM_ID)[0];
  },
};

export interface TermsParams {
  minStake: bigint | number;
  answerWindowSecs: bigint | number;
  recoveryWindowSecs: bigint | number;
  retrievalWindowSecs: bigint | number;
  unstakeCooldownSecs: bigint | number;
  slashToPublisherBps: number;
  corruptionRefundBps: number;
  challengeBondLamports: bigint | number;
  bondToProviderOnAnswer: boolean;
  challengeIntervalSecs: bigint | number;
  paymentPerEpoch: bigint | number;
  epochSecs: bigint | number;
  graceSecs: bigint | number;
}

/** The compact proof `answer_challenge` carries. */
export interface LeafProof {
  keyHash: Uint8Array;
  valueHash: Uint8Array;
  depth: number;
  /** Bit i (byte i/8, LSB first) set: sibling i (bottom first) is empty. */
  emptySiblings: Uint8Array;
  /** Hashes of the non-empty siblings, bottom first. */
  siblings: Uint8Array[];
}

/** The mint and its token program (SPL Token or Token-2022). */
export interface TokenSetup {
  mint: PublicKey;
  tokenProgram: PublicKey;
}

/** Both parties' wallets and token accounts, for instructions that pay both. */
export interface Parties {
  publisher: PublicKey;
  publisherToken: PublicKey;
  provider: PublicKey;
  providerToken: PublicKey;
}

const bn = (v: bigint | number): BN => new BN(v.toString());
const arr32 = (v: Uint8Array | string | number[]): number[] => Array.from(bytes32(v));

function termsArg(p: TermsParams) {
  return {
    minStake: bn(p.minStake),
    answerWindowSecs: bn(p.answerWindowSecs),
    recoveryWindowSecs: bn(p.recoveryWindowSecs),
    retrievalWindowSecs: bn(p.retrievalWindowSecs),
    unstakeCooldownSecs: bn(p.unstakeCooldownSecs),
    slashToPublisherBps: p.slashToPublisherBps,
    corruptionRefundBps: p.corruptionRefundBps,
    challengeBondLamports: bn(p.challengeBondLamports),
    bondToProviderOnAnswer: p.bondToProviderOnAnswer,
    challengeIntervalSecs: bn(p.challengeIntervalSecs),
    paymentPerEpoch: bn(p.paymentPerEpoch),
    epochSecs: bn(p.epochSecs),
    graceSecs: bn(p.graceSecs),
  };
}

function proofArg(p: LeafProof) {
  return { keyHash: arr32(p.keyHash), valueHash: arr32(p.valueHash), depth: p.depth, emptySiblings: Buffer.from(p.emptySiblings), siblings: p.siblings.map(arr32) };
}

const readonly = (pubkey: PublicKey): AccountMeta => ({ pubkey, isSigner: false, isWritable: false });

/** Builders (every account explicit, the same metas as sdk/rust) and fetchers for storage_stake. */
export class StorageStakeClient {
  readonly program: Program<StorageStake>;

  constructor(readonly provider: Provider) {
    this.program = new Program<StorageStake>(StorageStakeIdl, provider);
  }

  initTerms(publisher: PublicKey, app: PublicKey, token: TokenSetup, params: TermsParams): Promise<TransactionInstruction> {
    return this.program.methods
      .initTerms(termsArg(params))
      .accountsStrict({ publisher, app, mint: token.mint, terms: stakePda.terms(app), tokenProgram: token.tokenProgram, systemProgram: SystemProgram.programId })
      .instruction();
  }

  proposeTerms(publisher: PublicKey, app: PublicKey, params: TermsParams): Promise<TransactionInstruction> {
    return this.program.methods.proposeTerms(termsArg(params)).accountsStrict({ publisher, app, terms: stakePda.terms(app) }).instruction();
  }

  applyTerms(app: PublicKey): Promise<TransactionInstruction> {
    return this.program.methods.applyTerms().accountsStrict({ terms: stakePda.terms(app) }).instruction();
  }

  openStake(provider: PublicKey, app: PublicKey, token: TokenSetup): Promise<TransactionInstruction> {
    const stake = stakePda.stake(app, provider);
    return this.program.methods
      .openStake()
      .accountsStrict({
        provider,
        app,
        terms: stakePda.terms(app),
        mint: token.mint,
        stake,
        vault: stakePda.vault(stake),
        escrow: stakePda.escrow(stake),
        tokenProgram: token.tokenProgram,
        systemProgram: SystemProgram.programId,
      })
      .instruction();
  }

  /** Signers: `provider` and `tee`. */
  bindTee(provider: PublicKey, tee: PublicKey, app: PublicKey): Promise<TransactionInstruction> {
    return this.program.methods.bindTee().accountsStrict({ provider, tee, teeEntry: pda.teeEntry(tee), app, stake: stakePda.stake(app, provider) }).instruction();
  }

  unbindTee(provider: PublicKey, app: PublicKey, tee: PublicKey): Promise<TransactionInstruction> {
    return this.program.methods.unbindTee(tee).accountsStrict({ provider, stake: stakePda.stake(app, provider) }).instruction();
  }

  stake(provider: PublicKey, app: PublicKey, providerToken: PublicKey, token: TokenSetup, amount: bigint | number): Promise<TransactionInstruction> {
    const stake = stakePda.stake(app, provider);
    return this.program.methods
      .stake(bn(amount))
      .accountsStrict({ provider, terms: stakePda.terms(app), stake, vault: stakePda.vault(stake), providerToken, mint: token.mint, tokenProgram: token.tokenProgram })
      .instruction();
  }

  requestUnstake(provider: PublicKey, app: PublicKey): Promise<TransactionInstruction> {
    const stake = stakePda.stake(app, provider);
    return this.program.methods.requestUnstake().accountsStrict({ provider, terms: stakePda.terms(app), stake, escrow: stakePda.escrow(stake) }).instruction();
  }

  withdraw(app: PublicKey, parties: Parties, token: TokenSetup): Promise<TransactionInstruction> {
    const stake = stakePda.stake(app, parties.provider);
    return this.program.methods
      .withdraw()
      .accountsStrict({
        provider: parties.provider,
        app,
        terms: stakePda.terms(app),
        stake,
        vault: stakePda.vault(stake),
        escrow: stakePda.escrow(stake),
        providerToken: parties.providerToken,
        publisherToken: parties.publisherToken,
        publisher: parties.publisher,
        mint: token.mint,
        tokenProgram: token.tokenProgram,
      })
      .instruction();
  }

  /** `shards`: every shard account of the app, in shard-id order (the target is drawn on-chain). */
  openChallenge(publisher: PublicKey, app: PublicKey, provider: PublicKey, shards: PublicKey[]): Promise<TransactionInstruction> {
    const stake = stakePda.stake(app, provider);
    return this.program.methods
      .openChallenge()
      .accountsStrict({ publisher, app, terms: stakePda.terms(app), stake, escrow: stakePda.escrow(stake), slotHashes: SYSVAR_SLOT_HASHES_PUBKEY, systemProgram: SystemProgram.programId })
      .remainingAccounts(shards.map(readonly))
      .instruction();
  }

  /** Signed by `tee`; the fee payer is the transaction's. */
  answerChallenge(tee: PublicKey, app: PublicKey, provider: PublicKey, shard: PublicKey, proof: LeafProof, possessionTag: Uint8Array): Promise<TransactionInstruction> {
    return this.program.methods
      .answerChallenge({ proof: proofArg(proof), possessionTag: arr32(possessionTag) })
      .accountsStrict({ tee, teeEntry: pda.teeEntry(tee), app, shard, stake: stakePda.stake(app, provider) })
      .instruction();
  }

  reportCorruption(tee: PublicKey, app: PublicKey, provider: PublicKey, shards: PublicKey[]): Promise<TransactionInstruction> {
    return this.program.methods
      .reportCorruption()
      .accountsStrict({ tee, teeEntry: pda.teeEntry(tee), app, terms: stakePda.terms(app), stake: stakePda.stake(app, provider), slotHashes: SYSVAR_SLOT_HASHES_PUBKEY })
      .remainingAccounts(shards.map(readonly))
      .instruction();
  }

  slash(app: PublicKey, parties: Parties, token: TokenSetup): Promise<TransactionInstruction> {
    const stake = stakePda.stake(app, parties.provider);
    return this.program.methods
      .slash()
      .accountsStrict({
        app,
        terms: stakePda.terms(app),
        stake,
        vault: stakePda.vault(stake),
        escrow: stakePda.escrow(stake),
        mint: token.mint,
        publisherToken: parties.publisherToken,
        providerToken: parties.providerToken,
        publisher: parties.publisher,
        tokenProgram: token.tokenProgram,
      })
      .instruction();
  }

  fund(publisher: PublicKey, app: PublicKey, provider: PublicKey, publisherToken: PublicKey, token: TokenSetup, amount: bigint | number): Promise<TransactionInstruction> {
    const stake = stakePda.stake(app, provider);
    return this.program.methods
      .fund(bn(amount))
      .accountsStrict({ publisher, app, terms: stakePda.terms(app), stake, escrow: stakePda.escrow(stake), publisherToken, mint: token.mint, tokenProgram: token.tokenProgram })
      .instruction();
  }

  claimPayment(provider: PublicKey, app: PublicKey, providerToken: PublicKey, token: TokenSetup): Promise<TransactionInstruction> {
    const stake = stakePda.stake(app, provider);
    return this.program.methods
      .claimPayment()
      .accountsStrict({ provider, terms: stakePda.terms(app), stake, escrow: stakePda.escrow(stake), providerToken, mint: token.mint, tokenProgram: token.tokenProgram })
      .instruction();
  }

  requestRetrieval(publisher: PublicKey, app: PublicKey, provider: PublicKey, shard: PublicKey, shardId: number): Promise<TransactionInstruction> {
    const stake = stakePda.stake(app, provider);
    return this.program.methods
      .requestRetrieval(shardId)
      .accountsStrict({ publisher, app, terms: stakePda.terms(app), stake, escrow: stakePda.escrow(stake), shard })
      .instruction();
  }

  answerRetrieval(tee: PublicKey, app: PublicKey, provider: PublicKey, shard: PublicKey, exportCid: Uint8Array, root: Uint8Array | string): Promise<TransactionInstruction> {
    return this.program.methods
      .answerRetrieval({ exportCid: Buffer.from(exportCid), root: arr32(root) })
      .accountsStrict({ tee, teeEntry: pda.teeEntry(tee), app, shard, stake: stakePda.stake(app, provider) })
      .instruction();
  }

  fetchTerms(app: PublicKey) {
    return this.program.account.stakeTerms.fetchNullable(stakePda.terms(app));
  }

  fetchStake(app: PublicKey, provider: PublicKey) {
    return this.program.account.providerStake.fetchNullable(stakePda.stake(app, provider));
  }
}

/** `SHA-256(nonce ‖ ciphertext)`: the possession tag a TEE computes for the challenged blob. */
export function possessionTag(nonce: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return sha256Of(nonce, ciphertext);
}

/** The challenge target from a slot hash (programs/storage_stake/src/target.rs). */
export function deriveTarget(slotHash: Uint8Array, stake: PublicKey, counter: bigint | number, shardCount: number): { drawnShard: number; point: Uint8Array; nonce: Uint8Array } {
  const seed = sha256Of(TARGET_DOMAIN, slotHash, stake.toBytes(), u64le(counter));
  const head = Buffer.from(seed.subarray(0, 8)).readBigUInt64LE(0);
  return {
    drawnShard: Number(head % BigInt(Math.max(shardCount, 1))),
    point: sha256Of(seed, Buffer.from("point")),
    nonce: sha256Of(seed, Buffer.from("nonce")),
  };
}

function bit(hash: Uint8Array, i: number): boolean {
  return ((hash[i >> 3] >> (7 - (i & 7))) & 1) === 1;
}

/**
 * One step of the target rule over the keeper's jmt proof for `probe` (start with the point):
 * `"leaf"` — the proof ends at the selected leaf (compact it with {@link compactProof});
 * otherwise the next probe (the bit above the empty subtree flipped).
 */
export function nextProbe(probe: Uint8Array, proof: SparseMerkleProof): "leaf" | Uint8Array {
  if (proof.leaf) return "leaf";
  const depth = proof.siblings.length;
  if (depth === 0) throw new Error("the shard tree is empty");
  const next = Uint8Array.from(probe);
  next[(depth - 1) >> 3] ^= 0x80 >> ((depth - 1) & 7);
  return next;
}

/** The compact proof the program checks, from a jmt proof that ends at a leaf. */
export function compactProof(proof: SparseMerkleProof): LeafProof {
  if (!proof.leaf) throw new Error("the proof ends at an empty subtree");
  const depth = proof.siblings.length;
  const emptySiblings = new Uint8Array(Math.ceil(depth / 8));
  const siblings: Uint8Array[] = [];
  proof.siblings.forEach((sibling, i) => {
    const hash = nodeHash(sibling);
    if (bytesEqual(hash, SPARSE_MERKLE_PLACEHOLDER_HASH)) emptySiblings[i >> 3] |= 1 << (i & 7);
    else siblings.push(hash);
  });
  return { keyHash: proof.leaf.keyHash, valueHash: proof.leaf.valueHash, depth, emptySiblings, siblings };
}

/** The program's check, off-chain: the leaf is the one `point` selects and the proof leads to `root`. Throws with the reason. */
export function verifyTargetProof(proof: LeafProof, root: Uint8Array, point: Uint8Array): void {
  const n = proof.depth;
  if (n > 256 || proof.emptySiblings.length !== Math.ceil(n / 8)) throw new Error("malformed proof");
  const isEmpty = (i: number) => ((proof.emptySiblings[i >> 3] >> (i & 7)) & 1) === 1;
  let empties = 0;
  for (let i = 0; i < proof.emptySiblings.length * 8; i++) if ((proof.emptySiblings[i >> 3] >> (i & 7)) & 1) {
    if (i >= n) throw new Error("malformed proof");
    empties++;
  }
  if (empties + proof.siblings.length !== n) throw new Error("malformed proof");
  for (let d = 0; d < n; d++) if (bit(proof.keyHash, d) !== bit(point, d) && !isEmpty(n - 1 - d)) throw new Error("the leaf is not the one the point selects");
  let hash = leafNodeHash(proof.keyHash, proof.valueHash);
  let next = 0;
  for (let i = 0; i < n; i++) {
    const s = isEmpty(i) ? SPARSE_MERKLE_PLACEHOLDER_HASH : proof.siblings[next++];
    hash = bit(proof.keyHash, n - 1 - i) ? internalNodeHash(s, hash) : internalNodeHash(hash, s);
  }
  if (!bytesEqual(hash, root)) throw new Error("the proof does not lead to the root");
}

/** SHA-256 calls of the on-chain proof check for a leaf at `depth`. */
export const proofHashOps = (depth: number): number => depth + 1;

