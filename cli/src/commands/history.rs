//! `ironroot history`: an app's root history mirrored from the chain (the `ShardUpdated`
//! records app_roots writes through spl-noop, read from the history trees' transactions), checked
//! against each tree's on-chain root; and a proof that shard S had root R at seq N.
use std::collections::HashSet;

use anyhow::Context as _;
use app_roots::events::ShardUpdated;
use ironroot_sdk::history::{authenticate_tree, history_records, AppTree, HistoryMirror, InnerCall};
use ironroot_sdk::pda;
use serde_json::{json, Value};
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_rpc_client_api::config::RpcTransactionConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::{UiInstruction, UiTransactionEncoding};
use spl_account_compression::state::CONCURRENT_MERKLE_TREE_HEADER_SIZE_V1;

use super::{load_app, LoadedApp};
use crate::args::{AppRef, HistoryCommand};
use crate::context::Context;
use crate::encoding::{cid_text, parse_hex32};
use crate::errors::CliError;

pub fn run(ctx: &Context, command: HistoryCommand) -> anyhow::Result<()> {
    match command {
        HistoryCommand::Show { app, shard } => show(ctx, &app, shard),
        HistoryCommand::Prove { app, shard, seq, root } => prove(ctx, &app, shard, seq, root),
    }
}

/// One history tree, authenticated, with the mirror of its leaves as the tree account had them.
pub struct VerifiedTree {
    pub tree: AppTree,
    pub mirror: HistoryMirror,
}

/// Signatures of every successful transaction that touched `address`, oldest first.
fn signatures(ctx: &Context, address: &Pubkey) -> anyhow::Result<Vec<Signature>> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let config = GetConfirmedSignaturesForAddress2Config {
            before,
            until: None,
            limit: Some(1000),
            commitment: Some(ctx.rpc.commitment()),
        };
        let page = ctx.rpc.get_signatures_for_address_with_config(address, config)?;
        let done = page.len() < 1000;
        before = page.last().and_then(|s| s.signature.parse().ok());
        all.extend(
            page.into_iter()
                .filter(|s| s.err.is_none())
                .filter_map(|s| s.signature.parse::<Signature>().ok()),
        );
        if done || before.is_none() {
            break;
        }
    }
    all.reverse();
    Ok(all)
}

/// The `ShardUpdated` records app_roots wrote in transaction `signature`.
fn records_of(ctx: &Context, signature: &Signature) -> anyhow::Result<Vec<ShardUpdated>> {
    let config = RpcTransactionConfig {
        encoding: Some(UiTransactionEncoding::Base64),
        commitment: Some(ctx.rpc.commitment()),
        max_supported_transaction_version: Some(0),
    };
    let tx = ctx
        .rpc
        .get_transaction_with_config(signature, config)
        .with_context(|| format!("fetching transaction {signature}"))?;
    let decoded = tx
        .transaction
        .transaction
        .decode()
        .ok_or_else(|| anyhow::anyhow!("transaction {signature} does not decode"))?;
    let keys = decoded.message.static_account_keys();
    let outer: Vec<Pubkey> = decoded
        .message
        .instructions()
        .iter()
        .map(|ix| keys.get(ix.program_id_index as usize).copied().unwrap_or_default())
        .collect();
    let Some(meta) = tx.transaction.meta else { return Ok(Vec::new()) };
    let OptionSerializer::Some(inner) = meta.inner_instructions else { return Ok(Vec::new()) };
    let mut calls = Vec::new();
    for set in &inner {
        for ix in &set.instructions {
            if let UiInstruction::Compiled(ix) = ix {
                let Some(program_id) = keys.get(ix.program_id_index as usize) else { continue };
                let Ok(data) = bs58::decode(&ix.data).into_vec() else { continue };
                calls.push((set.index as usize, ix.stack_height, *program_id, data));
            }
        }
    }
    let inner = calls.iter().map(|(outer_index, stack_height, program_id, data)| InnerCall {
        outer_index: *outer_index,
        stack_height: *stack_height,
        program_id,
        data,
    });
    Ok(history_records(&outer, inner))
}

/// Appends in a concurrent Merkle tree account (its sequence number: app_roots only appends).
fn tree_leaf_count(data: &[u8]) -> anyhow::Result<u64> {
    let at = CONCURRENT_MERKLE_TREE_HEADER_SIZE_V1;
    data.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| anyhow::anyhow!("tree account too short"))
}

/// Tree `index` of the app: authenticated from its accounts, then mirrored from its transactions
/// up to the leaf count the account holds, and the mirror's root checked against the account's.
fn verified_tree(ctx: &Context, app: &Pubkey, index: u32) -> anyhow::Result<VerifiedTree> {
    let record_address = pda::history_tree(app, index);
    let record_account = ctx.require_account(&record_address, "history-tree record")?;
    let record = ironroot_sdk::app_roots::decode_history_tree(&record_address, &record_account)?;
    let tree_account = ctx.require_account(&record.tree, "history tree")?;
    let tree = authenticate_tree(app, index, &record_account, &record.tree, &tree_account)?;
    let leaves = tree_leaf_count(&tree_account.data)?;
    let mut records = Vec::new();
    let mut seen = HashSet::new();
    for signature in signatures(ctx, &record.tree)? {
        if seen.insert(signature) {
            records.extend(records_of(ctx, &signature)?.into_iter().filter(|r| r.tree == record.tree));
        }
    }
    records.sort_by_key(|r| r.leaf_index);
    records.dedup_by_key(|r| r.leaf_index);
    let mut mirror = HistoryMirror::new(*app, record.tree, index, tree.depth);
    for r in records.into_iter().filter(|r| r.leaf_index < leaves) {
        mirror.push(r)?;
    }
    if mirror.len() != leaves {
        return Err(CliError::Verification(format!(
            "the RPC returned {} history records for tree {}, but the tree holds {leaves} leaves",
            mirror.len(),
            record.tree
        ))
        .into());
    }
    if mirror.root() != tree.root {
        return Err(CliError::Verification(format!(
            "the history records of tree {} do not hash to its on-chain root {}",
            record.tree,
            hex::encode(tree.root)
        ))
        .into());
    }
    Ok(VerifiedTree { tree, mirror })
}

pub fn verified_trees(ctx: &Context, app: &LoadedApp) -> anyhow::Result<Vec<VerifiedTree>> {
    (0..=app.app.active_tree_index).map(|index| verified_tree(ctx, &app.address, index)).collect()
}

fn record_json(tree_index: u32, r: &ShardUpdated) -> Value {
    json!({
        "tree_index": tree_index,
        "tree": r.tree.to_string(),
        "leaf_index": r.leaf_index,
        "shard_id": r.shard_id,
        "seq": r.seq,
        "root": hex::encode(r.root),
        "manifest_cid": cid_text(&r.manifest_cid),
        "slot": r.slot,
        "signer": r.signer.to_string(),
        "prev_root": hex::encode(r.prev_root),
    })
}

fn show(ctx: &Context, app: &AppRef, shard: Option<u16>) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let trees = verified_trees(ctx, &loaded)?;
    let mut rows = Vec::new();
    let mut text =
        format!("Root history of app {} (every tree checked against its on-chain root)\n", loaded.address);
    let mut tree_rows = Vec::new();
    for verified in &trees {
        tree_rows.push(json!({
            "index": verified.tree.index,
            "tree": verified.tree.tree.to_string(),
            "root": hex::encode(verified.tree.root),
            "leaves": verified.mirror.len(),
        }));
        text += &format!(
            "tree #{} {} ({} leaves)\n",
            verified.tree.index,
            verified.tree.tree,
            verified.mirror.len()
        );
        for record in verified.mirror.records().iter().filter(|r| shard.is_none_or(|s| s == r.shard_id)) {
            text += &format!(
                "  leaf {}: shard {} seq {} root {} slot {} signer {} cid {}\n",
                record.leaf_index,
                record.shard_id,
                record.seq,
                hex::encode(record.root),
                record.slot,
                record.signer,
                cid_text(&record.manifest_cid)
            );
            rows.push(record_json(verified.tree.index, record));
        }
    }
    ctx.emit(json!({ "app": loaded.address.to_string(), "trees": tree_rows, "records": rows }), text);
    Ok(())
}

fn prove(ctx: &Context, app: &AppRef, shard: u16, seq: u64, root: Option<String>) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let expected_root = root.as_deref().map(parse_hex32).transpose()?;
    for verified in verified_trees(ctx, &loaded)? {
        let found = verified.mirror.records().iter().find(|r| r.shard_id == shard && r.seq == seq);
        if let Some(leaf) = found.map(|r| r.leaf_index) {
            let proof = verified.mirror.proof(leaf)?;
            if !proof.verify_in(&verified.tree) {
                return Err(CliError::Verification(format!(
                    "the proof of leaf {leaf} does not reach the tree root"
                ))
                .into());
            }
            if let Some(expected) = expected_root {
                if expected != proof.root {
                    return Err(CliError::Verification(format!(
                        "shard {shard} had root {} at seq {seq}, not {}",
                        hex::encode(proof.root),
                        hex::encode(expected)
                    ))
                    .into());
                }
            }
            let json = json!({
                "app": proof.app.to_string(),
                "tree": proof.tree.to_string(),
                "tree_index": proof.tree_index,
                "tree_root": hex::encode(verified.tree.root),
                "shard_id": proof.shard_id,
                "seq": proof.seq,
                "root": hex::encode(proof.root),
                "manifest_cid": cid_text(&proof.manifest_cid),
                "slot": proof.slot,
                "leaf_index": proof.leaf_index,
                "siblings": proof.siblings.iter().map(hex::encode).collect::<Vec<_>>(),
                "verified": true,
            });
            let text = format!(
                "Verified: shard {shard} of app {} had root {} at seq {seq} (slot {}).\n  leaf {} of history tree #{} {}, whose on-chain root is {}",
                proof.app,
                hex::encode(proof.root),
                proof.slot,
                proof.leaf_index,
                proof.tree_index,
                proof.tree,
                hex::encode(verified.tree.root)
            );
            ctx.emit(json, text);
            return Ok(());
        }
    }
    Err(CliError::Verification(format!(
        "the history of app {} has no update of shard {shard} at seq {seq}",
        loaded.address
    ))
    .into())
}
