//! Typed CLI errors, and on-chain custom error codes turned into the program's error name, its
//! message and what to do about it. Names and messages come from the committed IDLs (their error
//! codes are the real ones: `scripts/idl.sh` writes them and CI checks them for drift).
use std::sync::OnceLock;

use serde_json::{json, Value};
use solana_rpc_client_api::client_error::Error as ClientError;
use solana_sdk::instruction::{Instruction, InstructionError};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::transaction::TransactionError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A program refused the transaction.
    #[error("{program} refused: {name} ({code}): {message}. What to do: {hint}")]
    Program { program: String, code: u32, name: String, message: String, hint: String },
    /// The transaction failed for a reason other than a program's custom error.
    #[error("transaction failed: {0}{hint}", hint = transaction_hint(.0))]
    Transaction(TransactionError),
    #[error("aborted: nothing was sent")]
    Aborted,
    #[error("not found: {what} at {address}")]
    NotFound { what: String, address: Pubkey },
    #[error("the transaction is {size} bytes, over the {limit}-byte packet limit")]
    TooLarge { size: usize, limit: usize },
    #[error("verification failed: {0}")]
    Verification(String),
}

impl CliError {
    /// 3: a program refused; 4: the user declined; 5: not found; 6: a proof did not verify;
    /// 1: anything else (RPC, input). Clap's usage errors exit with 2.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Program { .. } | CliError::Transaction(_) => 3,
            CliError::Aborted => 4,
            CliError::NotFound { .. } => 5,
            CliError::Verification(_) => 6,
            CliError::TooLarge { .. } => 1,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            CliError::Program { program, code, name, message, hint } => json!({
                "kind": "program", "program": program, "code": code, "name": name,
                "message": message, "hint": hint,
            }),
            CliError::Transaction(err) => json!({ "kind": "transaction", "message": err.to_string() }),
            CliError::Aborted => json!({ "kind": "aborted", "message": self.to_string() }),
            CliError::NotFound { what, address } => {
                json!({ "kind": "not_found", "what": what, "address": address.to_string(), "message": self.to_string() })
            }
            CliError::TooLarge { size, limit } => {
                json!({ "kind": "too_large", "size": size, "limit": limit, "message": self.to_string() })
            }
            CliError::Verification(message) => json!({ "kind": "verification", "message": message }),
        }
    }
}

/// What to do about the runtime's own refusals that users meet.
fn transaction_hint(err: &TransactionError) -> &'static str {
    match err {
        TransactionError::AccountNotFound | TransactionError::InsufficientFundsForFee => {
            ". What to do: the fee payer (--keypair) needs SOL: transfer some to it (or `solana airdrop` on a test cluster)"
        }
        TransactionError::InsufficientFundsForRent { .. } => {
            ". What to do: an account would drop below its rent-exempt minimum: fund the paying key"
        }
        TransactionError::AlreadyProcessed => {
            ". What to do: an identical transaction (same signer, same arguments, same blockhash) was just sent; check its effect, or re-run in a moment"
        }
        _ => "",
    }
}

/// One program error: code, name, message.
struct ErrorEntry {
    program: &'static str,
    name: String,
    message: String,
}

/// Every Ironroot program error by code (the programs' ranges do not overlap: verifier 6000+,
/// registry 6500+, app_roots 7000+, storage_stake 8000+).
fn program_errors() -> &'static Vec<(u32, ErrorEntry)> {
    static TABLE: OnceLock<Vec<(u32, ErrorEntry)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let idls: [(&str, &str); 4] = [
            ("attestation_verifier", include_str!("../../target/idl/attestation_verifier.json")),
            ("tee_registry", include_str!("../../target/idl/tee_registry.json")),
            ("app_roots", include_str!("../../target/idl/app_roots.json")),
            ("storage_stake", include_str!("../../target/idl/storage_stake.json")),
        ];
        let mut table = Vec::new();
        for (program, idl) in idls {
            let idl: Value = serde_json::from_str(idl).unwrap_or(Value::Null);
            for error in idl["errors"].as_array().into_iter().flatten() {
                if let (Some(code), Some(name)) = (error["code"].as_u64(), error["name"].as_str()) {
                    let message = error["msg"].as_str().unwrap_or("").to_string();
                    table.push((code as u32, ErrorEntry { program, name: name.to_string(), message }));
                }
            }
        }
        table
    })
}

/// Anchor's own errors (account checks before a handler runs) that a CLI user can meet.
fn anchor_error(code: u32) -> Option<(String, String)> {
    use anchor_lang::error::ErrorCode as A;
    [
        A::ConstraintMut,
        A::ConstraintHasOne,
        A::ConstraintSigner,
        A::ConstraintRaw,
        A::ConstraintOwner,
        A::ConstraintSeeds,
        A::ConstraintAddress,
        A::ConstraintTokenMint,
        A::ConstraintTokenOwner,
        A::ConstraintMintTokenProgram,
        A::ConstraintAssociatedTokenTokenProgram,
        A::AccountDiscriminatorMismatch,
        A::AccountDiscriminatorNotFound,
        A::AccountDidNotDeserialize,
        A::AccountNotEnoughKeys,
        A::AccountNotMutable,
        A::AccountOwnedByWrongProgram,
        A::InvalidProgramId,
        A::AccountNotSigner,
        A::AccountNotInitialized,
        A::AccountReallocExceedsLimit,
        A::RequireKeysEqViolated,
        A::RequireGteViolated,
        A::DeclaredProgramIdMismatch,
        A::InstructionDidNotDeserialize,
        A::InstructionFallbackNotFound,
    ]
    .into_iter()
    .find(|e| u32::from(*e) == code)
    .map(|e| (e.name(), e.to_string()))
}

/// What to do, for the errors a user can act on.
fn hint(program: &str, name: &str) -> &'static str {
    match name {
        "InvalidPolicy" if program == "attestation_verifier" => {
            "the accepted-TCB mask must not include Revoked (bit 6); key lifetime and statement age must be > 0"
        }
        "NotPublisher" => "sign with the app's publisher keypair (--keypair); `ironroot app show` names it",
        "NotPendingPublisher" | "NotPendingAuthority" => "sign with the proposed key (--keypair)",
        "Unauthorized" | "NotAuthority" => {
            "sign with the governance authority (`ironroot governance show` names it)"
        }
        "AlreadyInitialized" => "nothing to do: the config exists (`ironroot governance show`)",
        "NotUpgradeAuthority" => "sign with the verifier program's upgrade authority",
        "TreeShapeNotAllowed" => {
            "use --tree-depth 14/17/20 with --tree-buffer 64 (or 256 for depth 14 and 20)"
        }
        "InvalidShardCount" => "use --shards between 1 and 256",
        "InvalidPolicy" => "give 1 to 8 distinct --allow pairs, at most 4 --block-key and a TCB floor of 0-5",
        "AppNotActive" => "the app is closing or closed; create a new app id",
        "AppNotClosing" => "run `ironroot app close` to begin closing first",
        "RotationTooEarly" => "rotate as the app's publisher, or wait until the tree is nearly full",
        "InvalidTerms" => "windows and epoch must be > 0, shares at most 10000 bps, the minimum stake > 0",
        "WrongMint" | "WrongTokenAccount" => {
            "pass a token account of the terms' mint owned by the right key (--token-account)"
        }
        "BelowMinimumStake" => "deposit at least the terms' min_stake (`ironroot stake terms`)",
        "Slashed" => "this stake was slashed; nothing more can be done with it",
        "Unstaking" => "the stake is unstaking: withdraw after the cool-down, then stake again",
        "NotUnstaking" => "run `ironroot stake unstake` first",
        "CooldownNotOver" => "wait until unlock_at (`ironroot stake show`)",
        "ChallengeOpen" => {
            "wait for the open challenge to be answered or slashed (`ironroot challenge show`)"
        }
        "RetrievalOpen" => "wait for the open retrieval request to be answered or slashed",
        "GraceObligation" => "serve until the grace period ends, or have the publisher fund the escrow",
        "ServiceLapsed" => "the escrow ran dry and the grace period is over: fund it (`ironroot pay fund`)",
        "ChallengeRateLimited" | "RetrievalRateLimited" => {
            "wait for the terms' challenge_interval_secs since the last one"
        }
        "NoStake" => "the provider has no tokens staked (`ironroot stake deposit`)",
        "NothingToChallenge" => "no shard holds data yet: wait for the keeper's first commit",
        "NoOpenChallenge" => "there is no open challenge (`ironroot challenge show`)",
        "DeadlinePassed" => "too late to answer: the stake can be slashed (`ironroot challenge slash`)",
        "SlashTooEarly" => "wait until the deadline has passed (`ironroot challenge show`)",
        "NothingToSlash" => "nothing is overdue for this provider",
        "NoPendingTerms" => "propose terms first (`ironroot stake terms APP propose`)",
        "NoticeNotOver" => "wait until the pending terms' effective time (`ironroot stake terms APP`)",
        "NothingToClaim" => "no whole epoch has been served since the last claim, or the escrow is empty",
        "NoOpenRetrieval" => "there is no open retrieval request (`ironroot retrieval show`)",
        "ShardOutOfRange" => "use a shard id below the app's shard count (`ironroot app show`)",
        "TeeRevoked" | "TeeExpired" => "the keeper must re-register its TEE key",
        "AccountNotInitialized" => {
            "an account the command needs does not exist yet (terms, stake or token account?)"
        }
        "ConstraintSeeds" | "ConstraintHasOne" | "ConstraintAddress" => {
            "an account does not belong to this app or provider: check the addresses"
        }
        "InsufficientFunds" => "the paying token account (or SOL balance) holds too little",
        "AccountAlreadyInUse" => "the account exists already",
        "NonceFloorDecrease" => "the nonce floor only goes up: pass a value at least the current one",
        "AlreadyAllowed" => "nothing to do: the pair is allowed already (`ironroot governance measurements`)",
        "NotAllowed" => "the pair is not in the allow list (`ironroot governance measurements`)",
        "AllowListFull" => "remove a pair first (`ironroot governance measurements remove`)",
        "InvalidAttesterSet" | "InvalidThreshold" => {
            "give 1-16 distinct attesters and a threshold between 1 and their number"
        }
        "AlreadyRevoked" => "nothing to do: the key is revoked already",
        _ => "check the arguments against `show` of the app, stake or governance config",
    }
}

/// SPL Token errors (token program 1-20, the common ones), met through CPIs.
fn token_error(code: u32) -> Option<(&'static str, &'static str)> {
    Some(match code {
        1 => ("InsufficientFunds", "insufficient funds"),
        2 => ("InvalidMint", "invalid mint"),
        3 => ("MintMismatch", "account not associated with this mint"),
        4 => ("OwnerMismatch", "owner does not match"),
        17 => ("AccountFrozen", "account is frozen"),
        _ => return None,
    })
}

fn system_error(code: u32) -> Option<(&'static str, &'static str)> {
    Some(match code {
        0 => ("AccountAlreadyInUse", "an account with the same address already exists"),
        1 => ("ResultWithNegativeLamports", "not enough SOL for the transfer"),
        _ => return None,
    })
}

/// Names the error of a failed transaction of `ixs`; other client errors pass through.
pub fn explain(err: ClientError, ixs: &[Instruction]) -> anyhow::Error {
    let Some(tx_error) = err.get_transaction_error() else {
        return anyhow::Error::new(err).context("sending the transaction");
    };
    let TransactionError::InstructionError(index, InstructionError::Custom(code)) = tx_error else {
        return CliError::Transaction(tx_error).into();
    };
    let program_id = ixs.get(index as usize).map(|ix| ix.program_id).unwrap_or_default();
    let ours = [attestation_verifier::ID, tee_registry::ID, app_roots::ID, storage_stake::ID];
    let program_name = |id: &Pubkey| match *id {
        id if id == attestation_verifier::ID => "attestation_verifier".to_string(),
        id if id == tee_registry::ID => "tee_registry".to_string(),
        id if id == app_roots::ID => "app_roots".to_string(),
        id if id == storage_stake::ID => "storage_stake".to_string(),
        id if id == solana_sdk::system_program::ID => "system program".to_string(),
        id => id.to_string(),
    };
    let found = if let Some((_, entry)) = program_errors().iter().find(|(c, _)| *c == code) {
        Some((entry.program.to_string(), entry.name.clone(), entry.message.clone()))
    } else if program_id == solana_sdk::system_program::ID {
        system_error(code).map(|(n, m)| (program_name(&program_id), n.to_string(), m.to_string()))
    } else if ours.contains(&program_id) && code >= 100 {
        anchor_error(code).map(|(n, m)| (program_name(&program_id), n, m))
    } else if ours.contains(&program_id) {
        // Below 100 under one of our programs: a token-program error from a CPI.
        token_error(code).map(|(n, m)| {
            (format!("{} (token program CPI)", program_name(&program_id)), n.to_string(), m.to_string())
        })
    } else {
        None
    };
    match found {
        Some((program, name, message)) => {
            let hint = hint(&program, &name).to_string();
            CliError::Program { program, code, name, message, hint }.into()
        }
        None => CliError::Program {
            program: program_name(&program_id),
            code,
            name: "Unknown".into(),
            message: format!("custom error {code}"),
            hint: hint("", "").to_string(),
        }
        .into(),
    }
}
