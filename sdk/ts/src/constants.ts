import { PublicKey } from "@solana/web3.js";

export const ATTESTATION_VERIFIER_PROGRAM_ID = new PublicKey("57vDmhykDq4pCVjm4ZcsUhTwTkKk6kQDU5kkSHS1tvC2");
export const TEE_REGISTRY_PROGRAM_ID = new PublicKey("6PMREzfVXtPEc4x5YrTQWhH3N6Dow6y8hVuyggQC3ew2");
export const APP_ROOTS_PROGRAM_ID = new PublicKey("5KHFn8SKbs8bkAFcbKPKgzUhqEzyxs4MSPGoZ2u5PNS5");
export const STORAGE_STAKE_PROGRAM_ID = new PublicKey("Buz3HwiitBnmLyVNCUJS3C8rNtmNQF1K12DTwPKYpBSx");
export const SPL_ACCOUNT_COMPRESSION_PROGRAM_ID = new PublicKey("cmtDvXumGCrqC1Age74AVPhSRVXJMd8PJS91L8KbNCK");
export const SPL_NOOP_PROGRAM_ID = new PublicKey("noopb9bkMVfRPU8AsbpTUg8AQkHtKwMYZiFUjNRtMmV");
export const ED25519_PROGRAM_ID = new PublicKey("Ed25519SigVerify111111111111111111111111111");
export const BPF_LOADER_UPGRADEABLE_PROGRAM_ID = new PublicKey("BPFLoaderUpgradeab1e11111111111111111111111");

export const CONFIG_SEED = Buffer.from("config");
export const VERIFIER_AUTHORITY_SEED = Buffer.from("verifier_authority");
export const TEE_ENTRY_SEED = Buffer.from("tee");
export const APP_SEED = Buffer.from("app");
export const SHARD_SEED = Buffer.from("shard");
export const HISTORY_TREE_SEED = Buffer.from("history");

export const STATEMENT_DOMAIN = Buffer.from("IRONROOT-ATTEST1");
export const STATEMENT_VERSION = 2;
export const STATEMENT_LEN = 266;
export const HISTORY_LEAF_DOMAIN = Buffer.from("ironroot:history:v2");
/** Anyone may rotate an app's history once at most max(capacity / 8, 1024) leaves are free. */
export const ROTATION_MIN_FREE_LEAVES = 1024;
export const ROTATION_FREE_DIVISOR = 8;

/** Tree shapes (max depth, max buffer size) app_roots accepts. */
export const ALLOWED_TREE_SHAPES: ReadonlyArray<readonly [number, number]> = [
  [14, 64],
  [14, 256],
  [17, 64],
  [20, 64],
  [20, 256],
];

/** Intel TCB status values (bit n of `accepted_tcb` = status n). */
export enum TcbStatus {
  UpToDate = 0,
  SwHardeningNeeded = 1,
  ConfigurationNeeded = 2,
  ConfigurationAndSwHardeningNeeded = 3,
  OutOfDate = 4,
  OutOfDateConfigurationNeeded = 5,
  Revoked = 6,
}
