//! Instruction builders, decoders and cost estimates for the app-roots program.
use anchor_lang::{Id, InstructionData, ToAccountMetas};
use app_roots::{
    accounts, instruction, tree_account_size, App, AppPolicy, CreateAppArgs, HistoryTree, Shard,
    UpdateShardArgs,
};
use solana_sdk::account::Account;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use solana_sdk::{system_instruction, system_program};

use crate::registry::decode;
use crate::{pda, SdkError};

fn ix(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction { program_id: app_roots::ID, accounts: accounts.to_account_metas(None), data: data.data() }
}

/// What creating an app costs in rent, before creating it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppCreationCost {
    pub tree_bytes: usize,
    pub tree_lamports: u64,
    pub app_lamports: u64,
    /// The `HistoryTree` record every tree gets.
    pub history_record_lamports: u64,
    pub shard_lamports_each: u64,
    pub shard_count: u16,
}

impl AppCreationCost {
    pub fn total_lamports(&self) -> u64 {
        self.tree_lamports
            + self.app_lamports
            + self.history_record_lamports
            + self.shard_lamports_each * self.shard_count as u64
    }

    /// What one history rotation costs (new tree + its record): the reserve the app account
    /// should hold above its rent so anyone can crank the rotation.
    pub fn rotation_lamports(&self) -> u64 {
        self.tree_lamports + self.history_record_lamports
    }
}

pub fn creation_cost(
    rent: &Rent,
    max_depth: u32,
    max_buffer_size: u32,
    shard_count: u16,
) -> Result<AppCreationCost, SdkError> {
    if !app_roots::ALLOWED_TREE_SHAPES.contains(&(max_depth, max_buffer_size)) {
        return Err(SdkError::TreeShape(max_depth, max_buffer_size));
    }
    let tree_bytes = tree_account_size(max_depth, max_buffer_size);
    Ok(AppCreationCost {
        tree_bytes,
        tree_lamports: rent.minimum_balance(tree_bytes),
        app_lamports: rent.minimum_balance(8 + <App as anchor_lang::Space>::INIT_SPACE),
        history_record_lamports: rent.minimum_balance(8 + <HistoryTree as anchor_lang::Space>::INIT_SPACE),
        shard_lamports_each: rent.minimum_balance(8 + <Shard as anchor_lang::Space>::INIT_SPACE),
        shard_count,
    })
}

/// Allocates the tree account (owned by spl-account-compression) and creates the app at
/// `pda::app(publisher, app_id)`, in one transaction so nobody can initialise the tree with
/// another authority in between. Signers: `publisher` and `tree`.
pub fn create_app(
    publisher: &Pubkey,
    tree: &Pubkey,
    rent: &Rent,
    args: CreateAppArgs,
) -> Result<Vec<Instruction>, SdkError> {
    let cost = creation_cost(rent, args.max_depth, args.max_buffer_size, args.shard_count)?;
    let allocate = system_instruction::create_account(
        publisher,
        tree,
        cost.tree_lamports,
        cost.tree_bytes as u64,
        &spl_account_compression::ID,
    );
    let app = pda::app(publisher, &args.app_id);
    let create = ix(
        accounts::CreateApp {
            publisher: *publisher,
            app,
            history_record: pda::history_tree(&app, 0),
            tree: *tree,
            compression_program: spl_account_compression::ID,
            noop_program: spl_noop_id(),
            system_program: system_program::ID,
        },
        instruction::CreateApp { args },
    );
    Ok(vec![allocate, create])
}

pub fn init_shard(publisher: &Pubkey, app: &Pubkey, shard_id: u16) -> Instruction {
    ix(
        accounts::InitShard {
            publisher: *publisher,
            app: *app,
            shard: pda::shard(app, shard_id),
            system_program: system_program::ID,
        },
        instruction::InitShard { shard_id },
    )
}

/// A shard update signed by `tee` into the app's active tree `tree`; the fee payer is the
/// transaction's, not an account here.
pub fn update_shard(tee: &Pubkey, app: &Pubkey, tree: &Pubkey, args: UpdateShardArgs) -> Instruction {
    ix(
        accounts::UpdateShard {
            tee: *tee,
            tee_entry: pda::tee_entry(tee),
            app: *app,
            shard: pda::shard(app, args.shard_id),
            tree: *tree,
            compression_program: spl_account_compression::ID,
            noop_program: spl_noop_id(),
        },
        instruction::UpdateShard { args },
    )
}

/// Allocates the next history tree (paid by `cranker`, a signer together with `new_tree`) and
/// rotates the app onto it. `tree_index` is the app's `active_tree_index + 1`.
pub fn rotate_history(
    cranker: &Pubkey,
    app: &Pubkey,
    new_tree: &Pubkey,
    tree_index: u32,
    max_depth: u32,
    max_buffer_size: u32,
    rent: &Rent,
) -> Result<Vec<Instruction>, SdkError> {
    let cost = creation_cost(rent, max_depth, max_buffer_size, 1)?;
    let allocate = system_instruction::create_account(
        cranker,
        new_tree,
        cost.tree_lamports,
        cost.tree_bytes as u64,
        &spl_account_compression::ID,
    );
    let rotate = ix(
        accounts::RotateHistory {
            cranker: *cranker,
            app: *app,
            history_record: pda::history_tree(app, tree_index),
            new_tree: *new_tree,
            compression_program: spl_account_compression::ID,
            noop_program: spl_noop_id(),
            system_program: system_program::ID,
        },
        instruction::RotateHistory { tree_index },
    );
    Ok(vec![allocate, rotate])
}

pub fn set_policy(publisher: &Pubkey, app: &Pubkey, policy: AppPolicy) -> Instruction {
    ix(accounts::SetPolicy { publisher: *publisher, app: *app }, instruction::SetPolicy { policy })
}

pub fn propose_publisher(publisher: &Pubkey, app: &Pubkey, new_publisher: Pubkey) -> Instruction {
    ix(
        accounts::ProposePublisher { publisher: *publisher, app: *app },
        instruction::ProposePublisher { new_publisher },
    )
}

pub fn accept_publisher(new_publisher: &Pubkey, app: &Pubkey) -> Instruction {
    ix(
        accounts::AcceptPublisher { new_publisher: *new_publisher, app: *app },
        instruction::AcceptPublisher {},
    )
}

/// Stops the app; then close its shards with [`close_shards`] in batches.
pub fn begin_close(publisher: &Pubkey, app: &Pubkey) -> Instruction {
    ix(accounts::BeginClose { publisher: *publisher, app: *app }, instruction::BeginClose {})
}

/// Closes a batch of the app's shard accounts; rent goes to `publisher` (the app's current one).
pub fn close_shards(app: &Pubkey, publisher: &Pubkey, shard_ids: &[u16]) -> Instruction {
    let mut close =
        ix(accounts::CloseShards { app: *app, publisher: *publisher }, instruction::CloseShards {});
    close.accounts.extend(shard_ids.iter().map(|id| AccountMeta::new(pda::shard(app, *id), false)));
    close
}

/// Shard accounts one `close_shards` transaction closes: what fits in 1,232 bytes with a separate
/// fee payer (measured in the native tests).
pub const CLOSE_SHARDS_BATCH: usize = 29;

pub fn decode_app(address: &Pubkey, account: &Account) -> Result<App, SdkError> {
    decode(address, account, &app_roots::ID, "App")
}

pub fn decode_shard(address: &Pubkey, account: &Account) -> Result<Shard, SdkError> {
    decode(address, account, &app_roots::ID, "Shard")
}

pub fn decode_history_tree(address: &Pubkey, account: &Account) -> Result<HistoryTree, SdkError> {
    decode(address, account, &app_roots::ID, "HistoryTree")
}

fn spl_noop_id() -> Pubkey {
    spl_account_compression::Noop::id()
}
