//! Instruction builders, decoders and cost estimates for the app-roots program.
use anchor_lang::{Id, InstructionData, ToAccountMetas};
use app_roots::{
    accounts, instruction, tree_account_size, App, AppPolicy, CreateAppArgs, Shard, UpdateShardArgs,
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
    pub shard_lamports_each: u64,
    pub shard_count: u16,
}

impl AppCreationCost {
    pub fn total_lamports(&self) -> u64 {
        self.tree_lamports + self.app_lamports + self.shard_lamports_each * self.shard_count as u64
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
        shard_lamports_each: rent.minimum_balance(8 + <Shard as anchor_lang::Space>::INIT_SPACE),
        shard_count,
    })
}

/// Allocates the tree account (owned by spl-account-compression) and creates the app, in one
/// transaction so nobody can initialise the tree with another authority in between. Signers:
/// `publisher` and `tree`.
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
    let create = ix(
        accounts::CreateApp {
            publisher: *publisher,
            app: pda::app(&args.app_id),
            tree: *tree,
            compression_program: spl_account_compression::ID,
            noop_program: spl_noop_id(),
            system_program: system_program::ID,
        },
        instruction::CreateApp { args },
    );
    Ok(vec![allocate, create])
}

pub fn init_shard(publisher: &Pubkey, app_id: &[u8; 32], shard_id: u16) -> Instruction {
    let app = pda::app(app_id);
    ix(
        accounts::InitShard {
            publisher: *publisher,
            app,
            shard: pda::shard(&app, shard_id),
            system_program: system_program::ID,
        },
        instruction::InitShard { shard_id },
    )
}

/// A shard update signed by `tee`; the fee payer is the transaction's, not an account here.
pub fn update_shard(tee: &Pubkey, app_id: &[u8; 32], tree: &Pubkey, args: UpdateShardArgs) -> Instruction {
    let app = pda::app(app_id);
    ix(
        accounts::UpdateShard {
            tee: *tee,
            tee_entry: pda::tee_entry(tee),
            app,
            shard: pda::shard(&app, args.shard_id),
            tree: *tree,
            compression_program: spl_account_compression::ID,
            noop_program: spl_noop_id(),
        },
        instruction::UpdateShard { args },
    )
}

pub fn set_policy(publisher: &Pubkey, app_id: &[u8; 32], policy: AppPolicy) -> Instruction {
    ix(
        accounts::SetPolicy { publisher: *publisher, app: pda::app(app_id) },
        instruction::SetPolicy { policy },
    )
}

/// Closes the app and the given shard accounts (every open shard must be listed).
pub fn close_app(publisher: &Pubkey, app_id: &[u8; 32], shard_ids: &[u16]) -> Instruction {
    let app = pda::app(app_id);
    let mut close = ix(accounts::CloseApp { publisher: *publisher, app }, instruction::CloseApp {});
    close.accounts.extend(shard_ids.iter().map(|id| AccountMeta::new(pda::shard(&app, *id), false)));
    close
}

pub fn decode_app(address: &Pubkey, account: &Account) -> Result<App, SdkError> {
    decode(address, account, &app_roots::ID, "App")
}

pub fn decode_shard(address: &Pubkey, account: &Account) -> Result<Shard, SdkError> {
    decode(address, account, &app_roots::ID, "Shard")
}

fn spl_noop_id() -> Pubkey {
    spl_account_compression::Noop::id()
}
