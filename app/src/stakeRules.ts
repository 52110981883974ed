// The stake page's pure rules, kept free of runtime imports so test/stake-rules.test.mjs can load this
// file alone: the program's payment rule, and answered challenges paired with their openings.
import type { web3 } from "@ironroot/sdk";

type PublicKey = web3.PublicKey;
type BNLike = { toString(): string };
const big = (v: BNLike) => BigInt(v.toString());
/** Anchor decodes a Rust enum as `{ variant: {} }`. */
export const variant = (v: object): string => Object.keys(v)[0] ?? "unknown";

export interface TermsParamsView {
  minStake: bigint;
  answerWindowSecs: bigint;
  recoveryWindowSecs: bigint;
  retrievalWindowSecs: bigint;
  unstakeCooldownSecs: bigint;
  slashToPublisherBps: number;
  corruptionRefundBps: number;
  challengeBondLamports: bigint;
  bondToProviderOnAnswer: boolean;
  challengeIntervalSecs: bigint;
  paymentPerEpoch: bigint;
  epochSecs: bigint;
  graceSecs: bigint;
}

/** One storage_stake instruction or event, with the transaction it came from. */
export interface StakeEvent {
  /** "instruction": decoded from the transaction; "event": the program's log (where the RPC has it). */
  source: "instruction" | "event";
  /** camelCase: instruction names (`openChallenge`) and event names (`challengeOpened`). */
  name: string;
  signature: string;
  slot: bigint;
  blockTime: number | null;
  /** The instruction's arguments or the event's fields, as Anchor decodes them from the IDL. */
  data: Record<string, unknown>;
}

/** A challenge answer, paired with the opening before it. */
export interface AnsweredChallenge {
  kind: string;
  openedSlot: bigint | null;
  answeredSlot: bigint;
  /** Slots from opening to answer, when the opening is in the history read. */
  slotsTaken: bigint | null;
  /** From the program's events, when the RPC's logs carry them. */
  shardId: number | null;
  deadline: bigint | null;
  seq: bigint | null;
  tee: PublicKey | null;
  /** Seconds left before the deadline when the answer's block was made (deadline and block time known). */
  marginSecs: number | null;
  signature: string;
}

/** A slash, with the amounts when the program's event is in the logs. */
export interface SlashRecord {
  slot: bigint;
  signature: string;
  amounts: { overdue: string; toPublisher: bigint; burned: bigint; refundedToProvider: bigint; escrowRefund: bigint } | null;
}

export interface PaymentView {
  claimableEpochs: bigint;
  claimableAmount: bigint;
  /** null: unbounded (never funded, or free service). */
  fundedUntil: bigint | null;
  graceUntil: bigint | null;
}

/** The program's payment rule (ProviderStake::payment_state in programs/storage_stake/src/state.rs). */
export function paymentState(stake: { funded: boolean; paidThrough: bigint }, terms: TermsParamsView, escrowBalance: bigint, now: bigint): PaymentView {
  if (!stake.funded || terms.paymentPerEpoch === 0n) return { claimableEpochs: 0n, claimableAmount: 0n, fundedUntil: null, graceUntil: null };
  const affordable = escrowBalance / terms.paymentPerEpoch;
  const served = now > stake.paidThrough ? (now - stake.paidThrough) / terms.epochSecs : 0n;
  const claimableEpochs = served < affordable ? served : affordable;
  const fundedUntil = stake.paidThrough + affordable * terms.epochSecs;
  return { claimableEpochs, claimableAmount: claimableEpochs * terms.paymentPerEpoch, fundedUntil, graceUntil: fundedUntil + terms.graceSecs };
}

const OPENINGS: Record<string, string> = { openChallenge: "publisher", reportCorruption: "corruption" };

/**
 * Answers paired with the opening before them (entries oldest first). Instructions say when a
 * challenge was opened and answered; the events, where present, add the shard, deadline, seq and key.
 */
export function answeredChallenges(entries: readonly StakeEvent[]): AnsweredChallenge[] {
  const out: AnsweredChallenge[] = [];
  let opened: { kind: string; slot: bigint; signature: string; deadline: bigint | null } | null = null;
  let answer: AnsweredChallenge | null = null;
  for (const e of entries) {
    if (e.source === "instruction" && e.name in OPENINGS) {
      opened = { kind: OPENINGS[e.name], slot: e.slot, signature: e.signature, deadline: null };
    } else if (e.source === "event" && e.name === "challengeOpened") {
      if (!opened || opened.signature !== e.signature) opened = { kind: variant(e.data.kind as object), slot: e.slot, signature: e.signature, deadline: null };
      opened.kind = variant(e.data.kind as object);
      opened.deadline = big(e.data.deadline as BNLike);
    } else if (e.source === "instruction" && e.name === "answerChallenge") {
      answer = {
        kind: opened?.kind ?? "unknown",
        openedSlot: opened?.slot ?? null,
        answeredSlot: e.slot,
        slotsTaken: opened ? e.slot - opened.slot : null,
        shardId: null,
        deadline: opened?.deadline ?? null,
        seq: null,
        tee: null,
        marginSecs: opened?.deadline != null && e.blockTime !== null ? Number(opened.deadline) - e.blockTime : null,
        signature: e.signature,
      };
      out.push(answer);
      opened = null;
    } else if (e.source === "event" && e.name === "challengeAnswered" && answer && answer.signature === e.signature) {
      answer.shardId = e.data.shardId as number;
      answer.kind = variant(e.data.kind as object);
      answer.seq = big(e.data.seq as BNLike);
      answer.tee = e.data.tee as PublicKey;
    }
  }
  return out;
}

/** `slash` instructions, with the amounts of the `Slashed` event of the same transaction when present. */
export function slashes(entries: readonly StakeEvent[]): SlashRecord[] {
  return entries
    .filter((e) => e.source === "instruction" && e.name === "slash")
    .map((e) => {
      const ev = entries.find((x) => x.source === "event" && x.name === "slashed" && x.signature === e.signature);
      return {
        slot: e.slot,
        signature: e.signature,
        amounts: ev
          ? {
              overdue: ev.data.challengeKind ? `${variant(ev.data.challengeKind as object)} challenge` : "retrieval request",
              toPublisher: big(ev.data.toPublisher as BNLike),
              burned: big(ev.data.burned as BNLike),
              refundedToProvider: big(ev.data.refundedToProvider as BNLike),
              escrowRefund: big(ev.data.escrowRefund as BNLike),
            }
          : null,
      };
    });
}
