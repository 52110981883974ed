import { PublicKey } from "@solana/web3.js";
import {
  APP_ROOTS_PROGRAM_ID,
  APP_SEED,
  ATTESTATION_VERIFIER_PROGRAM_ID,
  BPF_LOADER_UPGRADEABLE_PROGRAM_ID,
  CONFIG_SEED,
  HISTORY_TREE_SEED,
  SHARD_SEED,
  TEE_ENTRY_SEED,
  TEE_REGISTRY_PROGRAM_ID,
  VERIFIER_AUTHORITY_SEED,
} from "./constants";
import { bytes32, u16le, u32le } from "./bytes";

/** Program-derived addresses of every Ironroot account (same as sdk/rust/src/pda.rs). */
export const pda = {
  verifierConfig(): PublicKey {
    return PublicKey.findProgramAddressSync([CONFIG_SEED], ATTESTATION_VERIFIER_PROGRAM_ID)[0];
  },
  verifierAuthority(): PublicKey {
    return PublicKey.findProgramAddressSync([VERIFIER_AUTHORITY_SEED], ATTESTATION_VERIFIER_PROGRAM_ID)[0];
  },
  /** The upgradeable loader's program-data address of `programId`. */
  programData(programId: PublicKey = ATTESTATION_VERIFIER_PROGRAM_ID): PublicKey {
    return PublicKey.findProgramAddressSync([programId.toBuffer()], BPF_LOADER_UPGRADEABLE_PROGRAM_ID)[0];
  },
  teeEntry(teePubkey: PublicKey): PublicKey {
    return PublicKey.findProgramAddressSync([TEE_ENTRY_SEED, teePubkey.toBuffer()], TEE_REGISTRY_PROGRAM_ID)[0];
  },
  /** The app `appId` in `creator`'s namespace (its first publisher; the address keeps naming the creator after a rotation). */
  app(creator: PublicKey, appId: Uint8Array | string): PublicKey {
    return PublicKey.findProgramAddressSync([APP_SEED, creator.toBuffer(), Buffer.from(bytes32(appId))], APP_ROOTS_PROGRAM_ID)[0];
  },
  /** Record of the app's history tree number `index` (0 = the tree create_app made). */
  historyTree(app: PublicKey, index: number): PublicKey {
    return PublicKey.findProgramAddressSync([HISTORY_TREE_SEED, app.toBuffer(), Buffer.from(u32le(index))], APP_ROOTS_PROGRAM_ID)[0];
  },
  shard(app: PublicKey, shardId: number): PublicKey {
    return PublicKey.findProgramAddressSync([SHARD_SEED, app.toBuffer(), Buffer.from(u16le(shardId))], APP_ROOTS_PROGRAM_ID)[0];
  },
};
