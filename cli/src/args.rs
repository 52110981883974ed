//! The command tree. Addresses are base58, digests 64 hex digits, amounts in the mint's base units.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::context::OutputFormat;

#[derive(Parser, Debug)]
#[command(
    name = "ironroot",
    version,
    about = "Ironroot on Solana: apps, stakes, challenges, payments, history and governance"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// RPC URL or moniker: localhost, devnet, testnet, mainnet-beta (or l, d, t, m).
    /// Default: the Solana CLI config's json_rpc_url, else localhost.
    #[arg(short = 'u', long = "url", global = true, env = "IRONROOT_URL")]
    pub url: Option<String>,
    /// Keypair file that signs and pays. Default: the Solana CLI config's keypair_path, else
    /// ~/.config/solana/id.json.
    #[arg(short = 'k', long, global = true)]
    pub keypair: Option<PathBuf>,
    /// Solana CLI config file. Default: ~/.config/solana/cli/config.yml.
    #[arg(short = 'C', long = "config", global = true)]
    pub config_file: Option<PathBuf>,
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Display)]
    pub output: OutputFormat,
    /// Answer yes to confirmation prompts (destructive commands ask otherwise).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Publisher: create, inspect, re-police, rotate and close apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Provider: stake terms, deposits, unstaking and withdrawal.
    #[command(subcommand)]
    Stake(StakeCommand),
    /// Challenges: open (publisher), show, list, slash (anyone, after the deadline).
    #[command(subcommand)]
    Challenge(ChallengeCommand),
    /// The payment escrow: fund (publisher), claim (provider), show.
    #[command(subcommand)]
    Pay(PayCommand),
    /// TEE keys in the registry and their status.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// An app's root history and proofs that a shard had root R at seq n.
    #[command(subcommand)]
    History(HistoryCommand),
    /// The attestation verifier's governance: attesters, measurements, policy, revocation, authority.
    #[command(subcommand)]
    Governance(GovernanceCommand),
    /// Retrieval requests: the publisher asks a provider for an encrypted export of a shard.
    #[command(subcommand)]
    Retrieval(RetrievalCommand),
}

/// Which app (its address, as `app create` prints it).
#[derive(Args, Debug, Clone)]
pub struct AppRef {
    /// App address.
    pub app: String,
}

/// The policy flags shared by `app create` and `app policy`.
#[derive(Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// An allowed TEE: MEASUREMENT:DSTACK_APP_ID:COMPOSE_HASH (hex; repeat for up to 8).
    #[arg(long = "allow", value_name = "M:APP:COMPOSE")]
    pub allow: Vec<String>,
    /// Worst TCB status accepted (0 = UpToDate only … 5).
    #[arg(long)]
    pub max_tcb_status: Option<u8>,
    /// A TEE key refused even if its pair is allowed (repeat for up to 4).
    #[arg(long = "block-key", value_name = "PUBKEY")]
    pub block_keys: Vec<String>,
    /// A signing key must stay valid at least this long after an update.
    #[arg(long)]
    pub min_key_validity_secs: Option<i64>,
}

impl PolicyArgs {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty()
            && self.max_tcb_status.is_none()
            && self.block_keys.is_empty()
            && self.min_key_validity_secs.is_none()
    }
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Create an app (and its shard accounts); shows the rent and asks first.
    Create {
        /// The app id (64 hex digits; the keeper's `app_id`).
        #[arg(long)]
        app_id: String,
        #[arg(long, default_value_t = 1)]
        shards: u16,
        /// Root-history tree depth (14, 17 or 20).
        #[arg(long, default_value_t = 14)]
        tree_depth: u32,
        /// Root-history tree buffer size (64 or 256).
        #[arg(long, default_value_t = 64)]
        tree_buffer: u32,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// The app's account: publisher, status, policy, history trees.
    Show(AppRef),
    /// Every shard's seq, root, manifest CID and last signer.
    Shards(AppRef),
    /// Show the policy, or replace it (asks first) when policy flags are given.
    Policy {
        #[command(flatten)]
        app: AppRef,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Stop the app for good and close its shard accounts (asks first; resumes an interrupted close).
    Close(AppRef),
    /// Move the root history to a new tree (publisher; shows the rent and asks first).
    RotateTree(AppRef),
}

/// Terms parameters; unset ones keep the current value (`propose`) or the default (`init`).
#[derive(Args, Debug, Clone, Default)]
pub struct TermsArgs {
    #[arg(long)]
    pub min_stake: Option<u64>,
    /// Default 3600.
    #[arg(long)]
    pub answer_window_secs: Option<i64>,
    /// Default 86400.
    #[arg(long)]
    pub recovery_window_secs: Option<i64>,
    /// Default 86400.
    #[arg(long)]
    pub retrieval_window_secs: Option<i64>,
    /// Default 604800 (7 days).
    #[arg(long)]
    pub unstake_cooldown_secs: Option<i64>,
    /// Share of a slashed stake paid to the publisher (default 10000 = all).
    #[arg(long)]
    pub slash_to_publisher_bps: Option<u16>,
    /// Refund share on an unrecovered self-reported corruption (default 5000).
    #[arg(long)]
    pub corruption_refund_bps: Option<u16>,
    /// Default 0.
    #[arg(long)]
    pub challenge_bond_lamports: Option<u64>,
    /// Whether an answered challenge's bond goes to the provider (default false).
    #[arg(long)]
    pub bond_to_provider: Option<bool>,
    /// Default 3600.
    #[arg(long)]
    pub challenge_interval_secs: Option<i64>,
    /// Default 0 (free service).
    #[arg(long)]
    pub payment_per_epoch: Option<u64>,
    /// Default 86400.
    #[arg(long)]
    pub epoch_secs: Option<i64>,
    /// Default 604800.
    #[arg(long)]
    pub grace_secs: Option<i64>,
}

#[derive(Subcommand, Debug)]
pub enum TermsAction {
    /// Publisher: create the app's terms with their mint.
    Init {
        #[arg(long)]
        mint: String,
        #[command(flatten)]
        params: TermsArgs,
    },
    /// Publisher: propose new terms (they apply after the notice period; asks first).
    Propose {
        #[command(flatten)]
        params: TermsArgs,
    },
    /// Anyone: apply proposed terms whose notice has run.
    Apply,
}

/// The provider whose stake a command is about (default: the keypair's).
#[derive(Args, Debug, Clone)]
pub struct ProviderArg {
    #[arg(long)]
    pub provider: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct TokenAccountArg {
    /// Token account to pay from / into. Default: the keypair's associated token account.
    #[arg(long)]
    pub token_account: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum StakeCommand {
    /// Show the app's stake terms, or init / propose / apply them.
    Terms {
        #[command(flatten)]
        app: AppRef,
        #[command(subcommand)]
        action: Option<TermsAction>,
    },
    /// Provider: deposit tokens (opens the stake on first use).
    Deposit {
        #[command(flatten)]
        app: AppRef,
        amount: u64,
        #[command(flatten)]
        token: TokenAccountArg,
    },
    /// Provider: start the cool-down (asks first).
    Unstake(AppRef),
    /// Provider: after the cool-down, take the stake and accrued payment back (asks first).
    Withdraw {
        #[command(flatten)]
        app: AppRef,
        #[command(flatten)]
        token: TokenAccountArg,
    },
    /// A provider's stake: amount, status, TEE keys, open challenge and retrieval, payment.
    Show {
        #[command(flatten)]
        app: AppRef,
        #[command(flatten)]
        provider: ProviderArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum ChallengeCommand {
    /// Publisher: challenge a provider (posts the terms' bond).
    Open {
        #[command(flatten)]
        app: AppRef,
        #[arg(long)]
        provider: String,
    },
    /// A provider's open challenge and its deadline.
    Show {
        #[command(flatten)]
        app: AppRef,
        #[command(flatten)]
        provider: ProviderArg,
    },
    /// Every stake of the app with its open challenge, if any.
    List(AppRef),
    /// After a missed deadline: slash the provider's stake per the terms (asks first).
    Slash {
        #[command(flatten)]
        app: AppRef,
        #[arg(long)]
        provider: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PayCommand {
    /// Publisher: add tokens to a provider's payment escrow.
    Fund {
        #[command(flatten)]
        app: AppRef,
        #[arg(long)]
        provider: String,
        amount: u64,
        #[command(flatten)]
        token: TokenAccountArg,
    },
    /// Provider: claim the whole epochs served that the escrow can pay.
    Claim {
        #[command(flatten)]
        app: AppRef,
        #[command(flatten)]
        token: TokenAccountArg,
    },
    /// The escrow: balance, paid through, claimable, funded until, grace.
    Show {
        #[command(flatten)]
        app: AppRef,
        #[command(flatten)]
        provider: ProviderArg,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ExpiringArg {
    /// A valid key that expires within this many seconds shows as `expiring`.
    #[arg(long, default_value_t = 7 * 86_400)]
    pub expiring_within_secs: i64,
}

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// One TEE key's registry entry and status (valid, expiring, expired, revoked, not registered).
    Show {
        tee: String,
        #[command(flatten)]
        expiring: ExpiringArg,
    },
    /// Every registered TEE key with its status.
    List {
        #[command(flatten)]
        expiring: ExpiringArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum HistoryCommand {
    /// The app's root history, read from the chain (every tree, oldest first).
    Show {
        #[command(flatten)]
        app: AppRef,
        /// Only this shard's updates.
        #[arg(long)]
        shard: Option<u16>,
    },
    /// A proof that shard S had root R at seq N, checked against the on-chain tree root.
    Prove {
        #[command(flatten)]
        app: AppRef,
        #[arg(long)]
        shard: u16,
        #[arg(long)]
        seq: u64,
        /// Fail unless the root at that seq is this one (64 hex digits).
        #[arg(long)]
        root: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum GovernanceCommand {
    /// The verifier's governance config.
    Show,
    /// Upgrade authority: create the governance config for this cluster.
    Init {
        /// Governance authority (default: the keypair).
        #[arg(long)]
        authority: Option<String>,
        /// An approved attester key (repeat).
        #[arg(long = "attester", required = true)]
        attesters: Vec<String>,
        #[arg(long, default_value_t = 1)]
        threshold: u8,
        #[command(flatten)]
        policy: GovernancePolicyArgs,
    },
    /// Show the attester set, or replace it (asks first).
    Attesters {
        #[arg(long = "set")]
        set: Vec<String>,
        #[arg(long)]
        threshold: Option<u8>,
    },
    /// Show the allowed (measurement, app identity) pairs, or add / remove one.
    Measurements {
        #[command(subcommand)]
        action: Option<MeasurementAction>,
    },
    /// Every app on-chain (address, publisher, status, shards).
    Apps,
    /// Show the verifier policy, or change it (asks first) when flags are given.
    Policy {
        #[command(flatten)]
        policy: GovernancePolicyArgs,
    },
    /// Revoke a TEE key in the registry (asks first).
    Revoke { tee: String },
    /// First step of an authority rotation (asks first).
    ProposeAuthority { new_authority: String },
    /// Second step: the proposed authority (the keypair) takes over.
    AcceptAuthority,
}

#[derive(Args, Debug, Clone, Default)]
pub struct GovernancePolicyArgs {
    /// Bitmask of accepted TCB statuses (bit n = status n; 0b11 = UpToDate and SwHardeningNeeded).
    #[arg(long)]
    pub accepted_tcb: Option<u16>,
    #[arg(long)]
    pub max_key_lifetime_secs: Option<i64>,
    #[arg(long)]
    pub max_statement_age_secs: Option<i64>,
    /// Only ever raised: invalidates outstanding statements below it.
    #[arg(long)]
    pub nonce_floor: Option<u64>,
    /// `register_tee` also requires the quote's own P-256 signatures checked on-chain by the
    /// secp256r1 precompile (`true` / `false`).
    #[arg(long)]
    pub require_quote_signatures: Option<bool>,
}

impl GovernancePolicyArgs {
    pub fn is_empty(&self) -> bool {
        self.accepted_tcb.is_none()
            && self.max_key_lifetime_secs.is_none()
            && self.max_statement_age_secs.is_none()
            && self.nonce_floor.is_none()
            && self.require_quote_signatures.is_none()
    }
}

#[derive(Subcommand, Debug)]
pub enum MeasurementAction {
    /// Allow a (measurement, app identity) pair with its TCB floor.
    Add {
        #[arg(long)]
        measurement: String,
        #[arg(long)]
        app_id: String,
        #[arg(long)]
        compose_hash: String,
        #[arg(long, default_value_t = 0)]
        max_tcb_status: u8,
    },
    /// Stop allowing a pair (asks first; registered keys stay until revoked).
    Remove {
        #[arg(long)]
        measurement: String,
        #[arg(long)]
        app_id: String,
        #[arg(long)]
        compose_hash: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum RetrievalCommand {
    /// Publisher: ask a provider for an encrypted export of one shard.
    Request {
        #[command(flatten)]
        app: AppRef,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        shard: u16,
    },
    /// A provider's open retrieval request, and the last answer's CID if the chain has it.
    Show {
        #[command(flatten)]
        app: AppRef,
        #[command(flatten)]
        provider: ProviderArg,
    },
    /// Download the latest answered export from IPFS: its root checked against the shard's
    /// on-chain history, every block against its CID. Decrypting and restoring it needs the app's
    /// keys: `ironroot-keeper import FILE`.
    Fetch {
        #[command(flatten)]
        app: AppRef,
        #[command(flatten)]
        provider: ProviderArg,
        /// Kubo RPC API of an IPFS node that has (or can find) the export.
        #[arg(long, default_value = "http://127.0.0.1:5001")]
        ipfs: String,
        /// Where to write the export.
        #[arg(long)]
        out: PathBuf,
    },
}
