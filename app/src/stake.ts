// storage_stake read from the chain through @ironroot/sdk: terms per app, stakes per provider with
// their open challenge and retrieval, token balances of the vault and the payment escrow, and the
// program's instructions and events (answers, slashes, …) from the transactions that touched each
// stake account.
import { STORAGE_STAKE_PROGRAM_ID, StorageStakeClient, StorageStakeIdl, anchor, stakePda, web3 } from "@ironroot/sdk";
import { StakeEvent, TermsParamsView, variant } from "./stakeRules";

export type { AnsweredChallenge, PaymentView, SlashRecord, StakeEvent, TermsParamsView } from "./stakeRules";
export { answeredChallenges, paymentState, slashes } from "./stakeRules";

type PublicKey = web3.PublicKey;
type BNLike = { toString(): string };
const big = (v: BNLike) => BigInt(v.toString());
const u8 = (v: number[] | Uint8Array) => Uint8Array.from(v);

export interface TermsView {
  address: PublicKey;
  app: PublicKey;
  mint: PublicKey;
  tokenProgram: PublicKey;
  params: TermsParamsView;
  pending: TermsParamsView | null;
  pendingEffectiveAt: bigint;
}

export interface ChallengeView {
  kind: string;
  shardId: number;
  point: Uint8Array;
  nonce: Uint8Array;
  openedSeq: bigint;
  openedRoot: Uint8Array;
  sourceSlot: bigint;
  openedAt: bigint;
  deadline: bigint;
  bondLamports: bigint;
  bondToProvider: boolean;
}

export interface RetrievalView {
  shardId: number;
  requestedSeq: bigint;
  requestedAt: bigint;
  deadline: bigint;
}

export interface StakeView {
  address: PublicKey;
  app: PublicKey;
  provider: PublicKey;
  mint: PublicKey;
  amount: bigint;
  status: string;
  unlockAt: bigint;
  teeKeys: PublicKey[];
  challenge: ChallengeView | null;
  challengesOpened: bigint;
  lastChallengeAt: bigint;
  retrieval: RetrievalView | null;
  funded: boolean;
  paidThrough: bigint;
  providerBondCredit: bigint;
  publisherBondCredit: bigint;
  createdAt: bigint;
  vault: { address: PublicKey; balance: bigint | null };
  escrow: { address: PublicKey; balance: bigint | null };
  events: StakeEvent[];
}

function params(p: Record<string, BNLike | number | boolean>): TermsParamsView {
  return {
    minStake: big(p.minStake as BNLike),
    answerWindowSecs: big(p.answerWindowSecs as BNLike),
    recoveryWindowSecs: big(p.recoveryWindowSecs as BNLike),
    retrievalWindowSecs: big(p.retrievalWindowSecs as BNLike),
    unstakeCooldownSecs: big(p.unstakeCooldownSecs as BNLike),
    slashToPublisherBps: p.slashToPublisherBps as number,
    corruptionRefundBps: p.corruptionRefundBps as number,
    challengeBondLamports: big(p.challengeBondLamports as BNLike),
    bondToProviderOnAnswer: p.bondToProviderOnAnswer as boolean,
    challengeIntervalSecs: big(p.challengeIntervalSecs as BNLike),
    paymentPerEpoch: big(p.paymentPerEpoch as BNLike),
    epochSecs: big(p.epochSecs as BNLike),
    graceSecs: big(p.graceSecs as BNLike),
  };
}

/** Reads storage_stake accounts; events are cached per stake account (only new signatures are read). */
export class StakeReader {
  readonly client: StorageStakeClient;
  private readonly parser: anchor.EventParser;
  private readonly instructionCoder: anchor.BorshInstructionCoder;
  private readonly eventCache = new Map<string, { newest: string | undefined; events: StakeEvent[] }>();

  constructor(readonly connection: web3.Connection, provider: anchor.Provider) {
    this.client = new StorageStakeClient(provider);
    const coder = new anchor.BorshCoder(StorageStakeIdl as anchor.Idl);
    this.parser = new anchor.EventParser(STORAGE_STAKE_PROGRAM_ID, coder);
    this.instructionCoder = coder.instruction;
  }

  async terms(): Promise<TermsView[]> {
    const all = await this.client.program.account.stakeTerms.all();
    return all.map(({ publicKey, account: t }) => ({
      address: publicKey,
      app: t.app,
      mint: t.mint,
      tokenProgram: t.tokenProgram,
      params: params(t.params as never),
      pending: t.pending ? params(t.pending as never) : null,
      pendingEffectiveAt: big(t.pendingEffectiveAt),
    }));
  }

  async stakes(): Promise<StakeView[]> {
    const all = await this.client.program.account.providerStake.all();
    const views = await Promise.all(
      all.map(async ({ publicKey, account: s }) => {
        const vault = stakePda.vault(publicKey);
        const escrow = stakePda.escrow(publicKey);
        const [vaultBalance, escrowBalance, events] = await Promise.all([this.tokenBalance(vault), this.tokenBalance(escrow), this.events(publicKey)]);
        const c = s.challenge;
        const r = s.retrieval;
        return {
          address: publicKey,
          app: s.app,
          provider: s.provider,
          mint: s.mint,
          amount: big(s.amount),
          status: variant(s.status),
          unlockAt: big(s.unlockAt),
          teeKeys: s.teeKeys,
          challenge: c
            ? {
                kind: variant(c.kind),
                shardId: c.shardId,
                point: u8(c.point),
                nonce: u8(c.nonce),
                openedSeq: big(c.openedSeq),
                openedRoot: u8(c.openedRoot),
                sourceSlot: big(c.sourceSlot),
                openedAt: big(c.openedAt),
                deadline: big(c.deadline),
                bondLamports: big(c.bondLamports),
                bondToProvider: c.bondToProvider,
              }
            : null,
          challengesOpened: big(s.challengesOpened),
          lastChallengeAt: big(s.lastChallengeAt),
          retrieval: r ? { shardId: r.shardId, requestedSeq: big(r.requestedSeq), requestedAt: big(r.requestedAt), deadline: big(r.deadline) } : null,
          funded: s.funded,
          paidThrough: big(s.paidThrough),
          providerBondCredit: big(s.providerBondCredit),
          publisherBondCredit: big(s.publisherBondCredit),
          createdAt: big(s.createdAt),
          vault: { address: vault, balance: vaultBalance },
          escrow: { address: escrow, balance: escrowBalance },
          events,
        } satisfies StakeView;
      }),
    );
    return views.sort((a, b) => Number(a.createdAt - b.createdAt));
  }

  /** A token account's balance in base units; null when the account does not exist (closed). */
  private async tokenBalance(address: PublicKey): Promise<bigint | null> {
    const info = await this.connection.getAccountInfo(address, "confirmed");
    // SPL token account layout: mint (32) | owner (32) | amount (u64 LE).
    if (!info || info.data.length < 72) return null;
    return Buffer.from(info.data).readBigUInt64LE(64);
  }

  /**
   * What the transactions that touched `stake` did, oldest first: their storage_stake instructions
   * (decoded from the transaction itself, so always available) and the program's events (from the
   * logs, where the RPC carries them: a validator does, the native localnet does not).
   */
  async events(stake: PublicKey): Promise<StakeEvent[]> {
    const key = stake.toBase58();
    const cache = this.eventCache.get(key) ?? { newest: undefined, events: [] };
    const fresh: web3.ConfirmedSignatureInfo[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await this.connection.getSignaturesForAddress(stake, { before, until: cache.newest, limit: 1000 }, "confirmed");
      fresh.push(...page);
      if (page.length < 1000) break;
      before = page[page.length - 1].signature;
    }
    const ordered = fresh.filter((s) => !s.err).reverse();
    const added: StakeEvent[] = [];
    for (let i = 0; i < ordered.length; i += 16) {
      const chunk = ordered.slice(i, i + 16);
      const txs = await Promise.all(chunk.map((s) => this.connection.getTransaction(s.signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 })));
      txs.forEach((tx, j) => {
        if (!tx) throw new Error(`transaction ${chunk[j].signature} is listed for stake ${key} but the RPC did not return it`);
        const at = { signature: chunk[j].signature, slot: BigInt(tx.slot), blockTime: tx.blockTime ?? null };
        for (const ix of this.instructionsOf(tx)) added.push({ ...at, source: "instruction", name: ix.name, data: ix.data as Record<string, unknown> });
        for (const e of this.parser.parseLogs(tx.meta?.logMessages ?? [])) {
          const name = e.name.charAt(0).toLowerCase() + e.name.slice(1);
          added.push({ ...at, source: "event", name, data: e.data as Record<string, unknown> });
        }
      });
    }
    // Transactions within one slot may be listed in any order; entries within one keep theirs.
    added.sort((a, b) => Number(a.slot - b.slot));
    cache.events = [...cache.events, ...added];
    if (fresh.length > 0) cache.newest = fresh[0].signature;
    this.eventCache.set(key, cache);
    return cache.events;
  }

  /** The transaction's storage_stake instructions, top-level and inner (CPI), in order. */
  private instructionsOf(tx: web3.VersionedTransactionResponse): { name: string; data: object }[] {
    const message = tx.transaction.message;
    const keys = message.getAccountKeys({ accountKeysFromLookups: tx.meta?.loadedAddresses });
    const isStake = (index: number) => keys.get(index)?.equals(STORAGE_STAKE_PROGRAM_ID) ?? false;
    const out: { name: string; data: object }[] = [];
    const decode = (data: Buffer) => {
      const ix = this.instructionCoder.decode(data);
      // The coder names instructions as the IDL does (snake_case); events are camelCased here too.
      if (ix) out.push({ name: ix.name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), data: ix.data });
    };
    message.compiledInstructions.forEach((ix, i) => {
      if (isStake(ix.programIdIndex)) decode(Buffer.from(ix.data));
      for (const inner of tx.meta?.innerInstructions?.find((x) => x.index === i)?.instructions ?? []) {
        if (isStake(inner.programIdIndex)) decode(Buffer.from(anchor.utils.bytes.bs58.decode(inner.data)));
      }
    });
    return out;
  }
}
