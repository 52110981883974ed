//! One module per command group; shared account loading and JSON views here.
mod app;
mod challenge;
mod governance;
mod history;
mod pay;
mod registry;
mod retrieval;
mod stake;

use anchor_lang::{AccountDeserialize, Discriminator};
use app_roots::{App, AppPolicy, Shard};
use serde_json::{json, Value};
use solana_rpc_client_api::config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_rpc_client_api::filter::{Memcmp, RpcFilterType};
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;

use crate::args::{AppRef, Command};
use crate::context::Context;
use crate::encoding::{cid_text, parse_pubkey};
use crate::errors::CliError;

pub fn run(ctx: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::App(command) => app::run(ctx, command),
        Command::Stake(command) => stake::run(ctx, command),
        Command::Challenge(command) => challenge::run(ctx, command),
        Command::Pay(command) => pay::run(ctx, command),
        Command::Registry(command) => registry::run(ctx, command),
        Command::History(command) => history::run(ctx, command),
        Command::Governance(command) => governance::run(ctx, command),
        Command::Retrieval(command) => retrieval::run(ctx, command),
    }
}

/// An app read from the chain, with its address.
pub struct LoadedApp {
    pub address: Pubkey,
    pub app: App,
}

pub fn load_app(ctx: &Context, app: &AppRef) -> anyhow::Result<LoadedApp> {
    let address = parse_pubkey(&app.app)?;
    let account = ctx.require_account(&address, "app")?;
    let app = ironroot_sdk::app_roots::decode_app(&address, &account)?;
    Ok(LoadedApp { address, app })
}

/// Every shard account address of the app, in shard-id order.
pub fn shard_addresses(app: &LoadedApp) -> Vec<Pubkey> {
    (0..app.app.shard_count).map(|id| ironroot_sdk::pda::shard(&app.address, id)).collect()
}

/// Accounts of one program with `D`'s discriminator and, if given, `app` as the first field.
pub fn program_accounts<D: Discriminator + AccountDeserialize>(
    ctx: &Context,
    program: &Pubkey,
    app: Option<&Pubkey>,
) -> anyhow::Result<Vec<(Pubkey, D)>> {
    let mut filters = vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, D::DISCRIMINATOR.to_vec()))];
    if let Some(app) = app {
        filters.push(RpcFilterType::Memcmp(Memcmp::new_raw_bytes(8, app.to_bytes().to_vec())));
    }
    let config = RpcProgramAccountsConfig {
        filters: Some(filters),
        account_config: RpcAccountInfoConfig {
            encoding: Some(solana_account_decoder_client_types::UiAccountEncoding::Base64),
            commitment: Some(ctx.rpc.commitment()),
            ..RpcAccountInfoConfig::default()
        },
        ..RpcProgramAccountsConfig::default()
    };
    let accounts = ctx.rpc.get_program_accounts_with_config(program, config)?;
    let mut out = Vec::new();
    for (address, account) in accounts {
        if let Ok(decoded) = D::try_deserialize(&mut account.data.as_slice()) {
            out.push((address, decoded));
        }
    }
    out.sort_by_key(|(address, _)| *address);
    Ok(out)
}

pub fn policy_json(policy: &AppPolicy) -> Value {
    json!({
        "allowed": policy.allowed.iter().map(|p| json!({
            "measurement": hex::encode(p.measurement),
            "app_id": hex::encode(p.app_id),
            "compose_hash": hex::encode(p.compose_hash),
        })).collect::<Vec<_>>(),
        "max_tcb_status": policy.max_tcb_status,
        "blocked_keys": policy.blocked_keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        "min_key_validity_secs": policy.min_key_validity_secs,
    })
}

/// The policy as indented lines (`indent` spaces).
pub fn policy_text(policy: &AppPolicy, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut text = String::new();
    for pair in &policy.allowed {
        text += &format!(
            "{pad}allow: measurement {} app {} compose {}\n",
            hex::encode(pair.measurement),
            hex::encode(pair.app_id),
            hex::encode(pair.compose_hash)
        );
    }
    text += &format!("{pad}TCB floor: {}\n", policy.max_tcb_status);
    for key in &policy.blocked_keys {
        text += &format!("{pad}blocked: {key}\n");
    }
    text += &format!("{pad}min key validity: {} s\n", policy.min_key_validity_secs);
    text
}

pub fn app_json(address: &Pubkey, app: &App) -> Value {
    json!({
        "address": address.to_string(),
        "creator": app.creator.to_string(),
        "app_id": hex::encode(app.app_id),
        "publisher": app.publisher.to_string(),
        "pending_publisher": app.pending_publisher.map(|p| p.to_string()),
        "status": format!("{:?}", app.status),
        "shard_count": app.shard_count,
        "open_shards": app.open_shards,
        "max_depth": app.max_depth,
        "max_buffer_size": app.max_buffer_size,
        "active_tree": app.active_tree.to_string(),
        "active_tree_index": app.active_tree_index,
        "active_tree_leaves": app.active_tree_leaves,
        "history_len": app.history_len,
        "created_slot": app.created_slot,
        "closed_slot": app.closed_slot,
        "policy": policy_json(&app.policy),
    })
}

pub fn shard_json(address: &Pubkey, shard: &Shard) -> Value {
    json!({
        "shard_id": shard.shard_id,
        "address": address.to_string(),
        "seq": shard.seq,
        "root": hex::encode(shard.root),
        "manifest_cid": cid_text(&shard.manifest_cid),
        "updated_slot": shard.updated_slot,
        "last_signer": shard.last_signer.to_string(),
        "history_tree": shard.history_tree.to_string(),
        "leaf_index": shard.leaf_index,
    })
}

/// The provider a command is about: `--provider`, else the keypair's key.
pub fn provider_or_me(ctx: &Context, provider: &Option<String>) -> anyhow::Result<Pubkey> {
    match provider {
        Some(provider) => parse_pubkey(provider),
        None => ctx.me(),
    }
}

/// Decodes an account that must exist, naming it in the error.
pub fn decode_required<T>(
    ctx: &Context,
    address: &Pubkey,
    what: &str,
    decode: impl Fn(&Pubkey, &Account) -> Result<T, ironroot_sdk::SdkError>,
) -> anyhow::Result<T> {
    let account =
        ctx.account(address)?.ok_or_else(|| CliError::NotFound { what: what.into(), address: *address })?;
    Ok(decode(address, &account)?)
}
