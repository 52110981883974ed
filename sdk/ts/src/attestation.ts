import { ed25519 } from "@noble/curves/ed25519";
import { Keypair, PublicKey, TransactionInstruction } from "@solana/web3.js";
import { bytes32, concat, i64le, sha256Of, u16le, u64le } from "./bytes";
import { ED25519_PROGRAM_ID, STATEMENT_DOMAIN, STATEMENT_LEN, STATEMENT_VERSION, TEE_REGISTRY_PROGRAM_ID } from "./constants";

/** What an attester learned from a verified quote, plus the freshness fields. */
export interface StatementFields {
  clusterGenesisHash: Uint8Array;
  teePubkey: PublicKey;
  appId: Uint8Array;
  composeHash: Uint8Array;
  measurement: Uint8Array;
  tcbStatus: number;
  quoteHash: Uint8Array;
  nonce: bigint;
  verifiedAt: bigint;
  expiresAt: bigint;
}

/** A full statement (domain, version and registry program included). */
export interface AttestationStatement extends StatementFields {
  domain: Uint8Array;
  version: number;
  registryProgram: PublicKey;
}

/** A statement for Ironroot's registry with the current domain tag and layout version. */
export function statement(fields: StatementFields): AttestationStatement {
  return { domain: STATEMENT_DOMAIN, version: STATEMENT_VERSION, registryProgram: TEE_REGISTRY_PROGRAM_ID, ...fields };
}

/** The fixed 266-byte Borsh encoding attesters sign (programs/attestation_verifier/src/state.rs). */
export function encodeStatement(st: AttestationStatement): Uint8Array {
  if (st.domain.length !== 16) throw new Error("domain must be 16 bytes");
  if (st.tcbStatus < 0 || st.tcbStatus > 255 || st.version < 0 || st.version > 255) throw new Error("u8 out of range");
  const out = concat(
    st.domain,
    Uint8Array.of(st.version),
    bytes32(st.clusterGenesisHash),
    st.registryProgram.toBytes(),
    st.teePubkey.toBytes(),
    bytes32(st.appId),
    bytes32(st.composeHash),
    bytes32(st.measurement),
    Uint8Array.of(st.tcbStatus),
    bytes32(st.quoteHash),
    u64le(st.nonce),
    i64le(st.verifiedAt),
    i64le(st.expiresAt),
  );
  if (out.length !== STATEMENT_LEN) throw new Error(`statement is ${out.length} bytes`);
  return out;
}

/** SHA-256 of the statement bytes (what the registry stores as `statement_hash`). */
export function statementHash(st: AttestationStatement): Uint8Array {
  return sha256Of(encodeStatement(st));
}

export interface StatementSignature {
  pubkey: PublicKey;
  signature: Uint8Array;
}

/** Each attester signs the statement's bytes (ed25519, deterministic). */
export function signStatement(st: AttestationStatement, attesters: Keypair[]): StatementSignature[] {
  const message = encodeStatement(st);
  return attesters.map((k) => ({ pubkey: k.publicKey, signature: ed25519.sign(message, k.secretKey.slice(0, 32)) }));
}

const HEADER_LEN = 2;
const OFFSETS_LEN = 14;
const THIS_INSTRUCTION = 0xffff;

/**
 * One Ed25519 precompile instruction holding every signature over `message`, stored once; each
 * entry's offsets name this instruction itself, as the verifier requires (sdk/rust/src/attestation.rs).
 */
export function ed25519Instruction(message: Uint8Array, signatures: StatementSignature[]): TransactionInstruction {
  if (signatures.length > 255) throw new Error(`too many signatures: ${signatures.length} > 255`);
  const tableEnd = HEADER_LEN + OFFSETS_LEN * signatures.length;
  const messageOffset = tableEnd + signatures.length * 96;
  const check = (v: number) => {
    if (v > 0xffff) throw new Error(`offset ${v} overflows u16`);
    return v;
  };
  const parts: Uint8Array[] = [Uint8Array.of(signatures.length, 0)];
  signatures.forEach((_, i) => {
    const keyOffset = tableEnd + i * 96;
    for (const field of [check(keyOffset + 32), THIS_INSTRUCTION, check(keyOffset), THIS_INSTRUCTION, check(messageOffset), check(message.length), THIS_INSTRUCTION]) {
      parts.push(u16le(field));
    }
  });
  for (const s of signatures) {
    if (s.signature.length !== 64) throw new Error("signature must be 64 bytes");
    parts.push(s.pubkey.toBytes(), s.signature);
  }
  parts.push(message);
  return new TransactionInstruction({ programId: ED25519_PROGRAM_ID, keys: [], data: Buffer.from(concat(...parts)) });
}
