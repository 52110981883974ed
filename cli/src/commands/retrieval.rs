//! `ironroot retrieval`: the publisher's request for an encrypted export of one shard, what the
//! chain says about it (the open request, and the latest answer read from the answering
//! transaction: the program keeps only the open request in the stake account), and fetching the
//! answered export from IPFS.
use std::path::Path;

use anchor_lang::{AnchorDeserialize, Discriminator};
use anyhow::Context as _;
use ironroot_keeper::blobs::{BlobStore, Cid, IpfsBlobStore};
use ironroot_sdk::pda;
use ironroot_sdk::storage_stake as sdk;
use serde_json::{json, Value};
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_rpc_client_api::config::RpcTransactionConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Signature, Signer};
use solana_transaction_status_client_types::UiTransactionEncoding;
use storage_stake::AnswerRetrievalArgs;

use super::history::verified_trees;
use super::stake::{load_stake, retrieval_json};
use super::{load_app, provider_or_me, LoadedApp};
use crate::args::RetrievalCommand;
use crate::context::Context;
use crate::encoding::{cid_text, parse_pubkey, relative};
use crate::errors::CliError;

/// Positions among `answer_retrieval`'s accounts (tee, tee_entry, app, shard, stake).
const ANSWER_SHARD_ACCOUNT: usize = 3;
const ANSWER_STAKE_ACCOUNT: usize = 4;
/// How many of the stake's latest transactions `show` searches for an answer.
const ANSWER_SEARCH_DEPTH: usize = 200;
/// The keeper's export (backup) format opens with these bytes (`keeper/src/backup.rs`).
const EXPORT_MAGIC: &[u8; 4] = b"IRBK";

pub fn run(ctx: &Context, command: RetrievalCommand) -> anyhow::Result<()> {
    match command {
        RetrievalCommand::Request { app, provider, shard } => {
            let loaded = load_app(ctx, &app)?;
            let provider = parse_pubkey(&provider)?;
            let publisher = ctx.signer()?;
            let shard_address = pda::shard(&loaded.address, shard);
            let ix = sdk::request_retrieval(
                &publisher.pubkey(),
                &loaded.address,
                &provider,
                &shard_address,
                shard,
            );
            let signature = ctx.send(&publisher, &[ix], &[])?;
            show(ctx, &loaded.address, &provider, Some(signature))
        }
        RetrievalCommand::Show { app, provider } => {
            let loaded = load_app(ctx, &app)?;
            let provider = provider_or_me(ctx, &provider.provider)?;
            show(ctx, &loaded.address, &provider, None)
        }
        RetrievalCommand::Fetch { app, provider, ipfs, out } => {
            let loaded = load_app(ctx, &app)?;
            let provider = provider_or_me(ctx, &provider.provider)?;
            fetch(ctx, &loaded, &provider, &ipfs, &out)
        }
    }
}

/// An `answer_retrieval` the chain executed.
struct Answer {
    signature: Signature,
    slot: u64,
    shard: Pubkey,
    export_cid: Vec<u8>,
    root: [u8; 32],
}

impl Answer {
    fn to_json(&self) -> Value {
        json!({
            "signature": self.signature.to_string(),
            "slot": self.slot,
            "shard": self.shard.to_string(),
            "export_cid": cid_text(&self.export_cid),
            "root": hex::encode(self.root),
        })
    }
}

/// The newest successful `answer_retrieval` for `stake` among its latest transactions.
fn latest_answer(ctx: &Context, stake: &Pubkey) -> anyhow::Result<Option<Answer>> {
    let config = GetConfirmedSignaturesForAddress2Config {
        limit: Some(ANSWER_SEARCH_DEPTH),
        commitment: Some(ctx.rpc.commitment()),
        ..Default::default()
    };
    for status in ctx.rpc.get_signatures_for_address_with_config(stake, config)? {
        if status.err.is_some() {
            continue;
        }
        let signature: Signature = status.signature.parse().context("an RPC signature")?;
        let config = RpcTransactionConfig {
            encoding: Some(UiTransactionEncoding::Base64),
            commitment: Some(ctx.rpc.commitment()),
            max_supported_transaction_version: Some(0),
        };
        let tx = ctx.rpc.get_transaction_with_config(&signature, config)?;
        let Some(decoded) = tx.transaction.transaction.decode() else { continue };
        let keys = decoded.message.static_account_keys();
        let account = |ix: &solana_sdk::instruction::CompiledInstruction, position: usize| {
            ix.accounts.get(position).and_then(|i| keys.get(*i as usize)).copied()
        };
        for ix in decoded.message.instructions() {
            let Some(body) = ix.data.strip_prefix(storage_stake::instruction::AnswerRetrieval::DISCRIMINATOR)
            else {
                continue;
            };
            if keys.get(ix.program_id_index as usize) != Some(&storage_stake::ID)
                || account(ix, ANSWER_STAKE_ACCOUNT) != Some(*stake)
            {
                continue;
            }
            let (Ok(args), Some(shard)) = (
                storage_stake::instruction::AnswerRetrieval::try_from_slice(body),
                account(ix, ANSWER_SHARD_ACCOUNT),
            ) else {
                continue;
            };
            let AnswerRetrievalArgs { export_cid, root } = args.args;
            return Ok(Some(Answer { signature, slot: tx.slot, shard, export_cid, root }));
        }
    }
    Ok(None)
}

fn show(ctx: &Context, app: &Pubkey, provider: &Pubkey, signature: Option<Signature>) -> anyhow::Result<()> {
    let stake_address = pda::provider_stake(app, provider);
    let stake = load_stake(ctx, app, provider)?;
    let now = ctx.clock()?.unix_timestamp;
    let answer = latest_answer(ctx, &stake_address)?;
    let mut text = match &stake.retrieval {
        Some(r) => format!(
            "Open retrieval request to {provider}: shard {} at seq >= {}, deadline {} ({})\n",
            r.shard_id,
            r.requested_seq,
            r.deadline,
            relative(r.deadline - now)
        ),
        None => format!("No open retrieval request to {provider}\n"),
    };
    if let Some(answer) = &answer {
        text += &format!(
            "Latest answer: export {} of root {} (transaction {})\n",
            cid_text(&answer.export_cid),
            hex::encode(answer.root),
            answer.signature
        );
    }
    let json = json!({
        "stake": stake_address.to_string(),
        "provider": provider.to_string(),
        "retrieval": stake.retrieval.as_ref().map(|r| retrieval_json(r, now)),
        "last_retrieval_at": stake.last_retrieval_at,
        "latest_answer": answer.as_ref().map(Answer::to_json),
        "signature": signature.map(|s| s.to_string()),
        "now": now,
    });
    ctx.emit(json, text);
    Ok(())
}

/// Downloads the latest answer's export. Checked without the app's keys: the answered root is a
/// root the shard really had (its verified on-chain history), and every block the IPFS node
/// returns matches its CID (so the bytes are exactly what the provider's TEE published).
fn fetch(ctx: &Context, app: &LoadedApp, provider: &Pubkey, ipfs: &str, out: &Path) -> anyhow::Result<()> {
    let stake_address = pda::provider_stake(&app.address, provider);
    let answer = latest_answer(ctx, &stake_address)?.ok_or_else(|| {
        anyhow::anyhow!("{provider} has not answered a retrieval request for app {} yet", app.address)
    })?;
    let shard_account = ctx.require_account(&answer.shard, "the answered shard")?;
    let shard = ironroot_sdk::app_roots::decode_shard(&answer.shard, &shard_account)?;
    let record = verified_trees(ctx, app)?
        .into_iter()
        .flat_map(|t| t.mirror.records().to_vec())
        .filter(|r| r.shard_id == shard.shard_id && r.root == answer.root)
        .max_by_key(|r| r.seq)
        .ok_or_else(|| {
            CliError::Verification(format!(
                "the answered root {} is not in shard {}'s on-chain history",
                hex::encode(answer.root),
                shard.shard_id
            ))
        })?;
    let cid = Cid::try_from(answer.export_cid.as_slice())
        .map_err(|e| CliError::Verification(format!("the answer's CID does not parse: {e}")))?;
    let store = IpfsBlobStore::new(ipfs)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let bytes = runtime.block_on(store.get(&cid)).with_context(|| format!("fetching {cid} from {ipfs}"))?;
    if !bytes.starts_with(EXPORT_MAGIC) {
        return Err(CliError::Verification(format!("{cid} is not an Ironroot export")).into());
    }
    let partial = out.with_extension("partial");
    std::fs::write(&partial, &bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))?;
    let json = json!({
        "export_cid": cid.to_string(),
        "bytes": bytes.len(),
        "out": out.display().to_string(),
        "shard_id": shard.shard_id,
        "root": hex::encode(answer.root),
        "seq": record.seq,
        "answer": answer.to_json(),
        "checked": ["root_in_onchain_history", "blocks_match_cid"],
    });
    let text = format!(
        "Fetched export {cid} ({} bytes) to {}\n  shard {} root {} (seq {} in the on-chain history); every block matched its CID\n  \
         decrypt and restore it with the app's keys: ironroot-keeper --config KEEPER.toml import {}",
        bytes.len(),
        out.display(),
        shard.shard_id,
        hex::encode(answer.root),
        record.seq,
        out.display()
    );
    ctx.emit(json, text);
    Ok(())
}
