//! `ironroot app`: create (rent shown first), show, shards, policy, close, rotate-tree.
use anyhow::bail;
use app_roots::{AllowedTee, AppPolicy, AppStatus, CreateAppArgs};
use ironroot_sdk::app_roots as roots;
use ironroot_sdk::pda;
use serde_json::json;
use solana_sdk::signature::{Keypair, Signer};

use super::{app_json, load_app, policy_json, policy_text, shard_addresses, shard_json, LoadedApp};
use crate::args::{AppCommand, AppRef, PolicyArgs};
use crate::context::Context;
use crate::encoding::{cid_text, parse_hex32, parse_pubkey, parse_triple, sol};

const DEFAULT_MAX_TCB_STATUS: u8 = 1;
const DEFAULT_MIN_KEY_VALIDITY_SECS: i64 = 3600;

pub fn run(ctx: &Context, command: AppCommand) -> anyhow::Result<()> {
    match command {
        AppCommand::Create { app_id, shards, tree_depth, tree_buffer, policy } => {
            create(ctx, &app_id, shards, tree_depth, tree_buffer, &policy)
        }
        AppCommand::Show(app) => show(ctx, &app),
        AppCommand::Shards(app) => shards(ctx, &app),
        AppCommand::Policy { app, policy } => set_policy(ctx, &app, &policy),
        AppCommand::Close(app) => close(ctx, &app),
        AppCommand::RotateTree(app) => rotate(ctx, &app),
    }
}

/// A policy from the flags, on top of `base` (the current policy, or the defaults).
fn build_policy(args: &PolicyArgs, base: Option<&AppPolicy>) -> anyhow::Result<AppPolicy> {
    let allowed = if args.allow.is_empty() {
        base.map(|b| b.allowed.clone()).unwrap_or_default()
    } else {
        args.allow
            .iter()
            .map(|text| {
                let (measurement, app_id, compose_hash) = parse_triple(text)?;
                Ok(AllowedTee { measurement, app_id, compose_hash })
            })
            .collect::<anyhow::Result<_>>()?
    };
    if allowed.is_empty() {
        bail!("a policy needs at least one --allow MEASUREMENT:APP_ID:COMPOSE_HASH");
    }
    let blocked_keys = if args.block_keys.is_empty() {
        base.map(|b| b.blocked_keys.clone()).unwrap_or_default()
    } else {
        args.block_keys.iter().map(|k| parse_pubkey(k)).collect::<anyhow::Result<_>>()?
    };
    Ok(AppPolicy {
        allowed,
        max_tcb_status: args
            .max_tcb_status
            .or(base.map(|b| b.max_tcb_status))
            .unwrap_or(DEFAULT_MAX_TCB_STATUS),
        blocked_keys,
        min_key_validity_secs: args
            .min_key_validity_secs
            .or(base.map(|b| b.min_key_validity_secs))
            .unwrap_or(DEFAULT_MIN_KEY_VALIDITY_SECS),
    })
}

fn create(
    ctx: &Context,
    app_id: &str,
    shard_count: u16,
    max_depth: u32,
    max_buffer_size: u32,
    policy: &PolicyArgs,
) -> anyhow::Result<()> {
    let app_id = parse_hex32(app_id)?;
    let policy = build_policy(policy, None)?;
    let publisher = ctx.signer()?;
    let rent = ctx.rent()?;
    let cost = roots::creation_cost(&rent, max_depth, max_buffer_size, shard_count)?;
    let address = pda::app(&publisher.pubkey(), &app_id);
    let cost_json = json!({
        "tree_bytes": cost.tree_bytes,
        "tree_lamports": cost.tree_lamports,
        "app_lamports": cost.app_lamports,
        "history_record_lamports": cost.history_record_lamports,
        "shard_lamports_each": cost.shard_lamports_each,
        "shard_count": cost.shard_count,
        "total_lamports": cost.total_lamports(),
        "rotation_lamports": cost.rotation_lamports(),
    });
    eprintln!(
        "Creating app {address} ({shard_count} shards, history tree depth {max_depth} buffer {max_buffer_size}) costs {} in rent:\n  \
         history tree {} bytes: {}\n  app account: {}\n  history record: {}\n  shards: {} x {}\n  \
         (each later history rotation costs {})",
        sol(cost.total_lamports()),
        cost.tree_bytes,
        sol(cost.tree_lamports),
        sol(cost.app_lamports),
        sol(cost.history_record_lamports),
        shard_count,
        sol(cost.shard_lamports_each),
        sol(cost.rotation_lamports()),
    );
    ctx.confirm(&format!("Pay {} from {}?", sol(cost.total_lamports()), publisher.pubkey()))?;
    let tree = Keypair::new();
    let args = CreateAppArgs { app_id, shard_count, max_depth, max_buffer_size, policy };
    let create_ixs = roots::create_app(&publisher.pubkey(), &tree.pubkey(), &rent, args)?;
    let mut signatures = vec![ctx.send(&publisher, &create_ixs, &[&tree])?];
    let init: Vec<_> =
        (0..shard_count).map(|id| roots::init_shard(&publisher.pubkey(), &address, id)).collect();
    signatures.extend(ctx.send_batched(&publisher, init)?);
    let json = json!({
        "app": address.to_string(),
        "app_id": hex::encode(app_id),
        "tree": tree.pubkey().to_string(),
        "shard_count": shard_count,
        "cost": cost_json,
        "signatures": signatures.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    });
    ctx.emit(json, format!("Created app {address}\nHistory tree: {}\nShards: {shard_count}", tree.pubkey()));
    Ok(())
}

fn show(ctx: &Context, app: &AppRef) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let a = &loaded.app;
    let lamports = ctx.account(&loaded.address)?.map_or(0, |acc| acc.lamports);
    let mut json = app_json(&loaded.address, a);
    json["lamports"] = json!(lamports);
    let text = format!(
        "App {}\n  app id: {}\n  creator: {}\n  publisher: {}{}\n  status: {:?}\n  shards: {} ({} open)\n  \
         history: {} leaves; active tree #{} {} ({} leaves, depth {} buffer {})\n  balance: {}\n  policy:\n{}",
        loaded.address,
        hex::encode(a.app_id),
        a.creator,
        a.publisher,
        a.pending_publisher.map(|p| format!(" (proposed: {p})")).unwrap_or_default(),
        a.status,
        a.shard_count,
        a.open_shards,
        a.history_len,
        a.active_tree_index,
        a.active_tree,
        a.active_tree_leaves,
        a.max_depth,
        a.max_buffer_size,
        sol(lamports),
        policy_text(&a.policy, 4),
    );
    ctx.emit(json, text);
    Ok(())
}

fn shards(ctx: &Context, app: &AppRef) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let addresses = shard_addresses(&loaded);
    let accounts = ctx.accounts(&addresses)?;
    let mut rows = Vec::new();
    let mut text = format!("App {}: {} shards\n", loaded.address, loaded.app.shard_count);
    for (id, (address, account)) in addresses.iter().zip(accounts).enumerate() {
        match account {
            Some(account) => {
                let shard = roots::decode_shard(address, &account)?;
                text += &format!(
                    "  shard {id}: seq {} root {} cid {} slot {} signer {}\n",
                    shard.seq,
                    hex::encode(shard.root),
                    if shard.manifest_cid.is_empty() { "-".into() } else { cid_text(&shard.manifest_cid) },
                    shard.updated_slot,
                    shard.last_signer
                );
                rows.push(shard_json(address, &shard));
            }
            None => {
                text += &format!("  shard {id}: no account (not initialised, or closed)\n");
                rows.push(json!({ "shard_id": id, "address": address.to_string(), "missing": true }));
            }
        }
    }
    ctx.emit(json!({ "app": loaded.address.to_string(), "shards": rows }), text);
    Ok(())
}

fn set_policy(ctx: &Context, app: &AppRef, args: &PolicyArgs) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    if args.is_empty() {
        let text = format!("Policy of app {}:\n{}", loaded.address, policy_text(&loaded.app.policy, 2));
        ctx.emit(
            json!({ "app": loaded.address.to_string(), "policy": policy_json(&loaded.app.policy) }),
            text,
        );
        return Ok(());
    }
    let policy = build_policy(args, Some(&loaded.app.policy))?;
    eprintln!(
        "Replacing the policy of app {}\n  now:\n{}  new:\n{}",
        loaded.address,
        policy_text(&loaded.app.policy, 4),
        policy_text(&policy, 4)
    );
    ctx.confirm("Replace the policy? Keys the new policy does not allow stop being able to write.")?;
    let publisher = ctx.signer()?;
    let signature =
        ctx.send(&publisher, &[roots::set_policy(&publisher.pubkey(), &loaded.address, policy)], &[])?;
    let after = load_app(ctx, app)?;
    let text = format!("Policy of app {} replaced:\n{}", after.address, policy_text(&after.app.policy, 2));
    let json = json!({
        "app": after.address.to_string(),
        "policy": policy_json(&after.app.policy),
        "signature": signature.to_string(),
    });
    ctx.emit(json, text);
    Ok(())
}

fn close(ctx: &Context, app: &AppRef) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    if loaded.app.status == AppStatus::Closed {
        ctx.emit(
            app_json(&loaded.address, &loaded.app),
            format!("App {} is closed already.", loaded.address),
        );
        return Ok(());
    }
    let addresses = shard_addresses(&loaded);
    let open: Vec<u16> = ctx
        .accounts(&addresses)?
        .iter()
        .enumerate()
        .filter(|(_, account)| account.is_some())
        .map(|(id, _)| id as u16)
        .collect();
    eprintln!(
        "Closing app {}: no shard update will ever be accepted again; {} shard accounts are closed \
         (rent back to the publisher); the app account stays as a tombstone.",
        loaded.address,
        open.len()
    );
    ctx.confirm("This cannot be undone. Close the app?")?;
    let publisher = ctx.signer()?;
    let mut signatures = Vec::new();
    if loaded.app.status == AppStatus::Active {
        signatures.push(ctx.send(
            &publisher,
            &[roots::begin_close(&publisher.pubkey(), &loaded.address)],
            &[],
        )?);
    }
    for batch in open.chunks(roots::CLOSE_SHARDS_BATCH) {
        let ix = roots::close_shards(&loaded.address, &loaded.app.publisher, batch);
        signatures.push(ctx.send(&publisher, &[ix], &[])?);
    }
    let after = load_app(ctx, app)?;
    let mut json = app_json(&after.address, &after.app);
    json["signatures"] = json!(signatures.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    ctx.emit(
        json,
        format!("App {}: {:?}, {} shards open", after.address, after.app.status, after.app.open_shards),
    );
    Ok(())
}

fn rotate(ctx: &Context, app: &AppRef) -> anyhow::Result<()> {
    let LoadedApp { address, app: a } = load_app(ctx, app)?;
    let publisher = ctx.signer()?;
    let rent = ctx.rent()?;
    let cost = roots::creation_cost(&rent, a.max_depth, a.max_buffer_size, 1)?;
    eprintln!(
        "Rotating the history of app {address} from tree #{} ({} leaves) to a new tree costs {} in rent.",
        a.active_tree_index,
        a.active_tree_leaves,
        sol(cost.rotation_lamports())
    );
    ctx.confirm(&format!("Pay {} from {}?", sol(cost.rotation_lamports()), publisher.pubkey()))?;
    let tree = Keypair::new();
    let index = a.active_tree_index.checked_add(1).ok_or_else(|| anyhow::anyhow!("tree index overflow"))?;
    let ixs = roots::rotate_history(
        &publisher.pubkey(),
        &address,
        &tree.pubkey(),
        index,
        a.max_depth,
        a.max_buffer_size,
        &rent,
    )?;
    let signature = ctx.send(&publisher, &ixs, &[&tree])?;
    let after = load_app(ctx, &AppRef { app: address.to_string() })?;
    let mut json = app_json(&address, &after.app);
    json["signature"] = json!(signature.to_string());
    json["rotation_lamports"] = json!(cost.rotation_lamports());
    ctx.emit(
        json,
        format!(
            "App {address}: history now on tree #{} {}",
            after.app.active_tree_index, after.app.active_tree
        ),
    );
    Ok(())
}
