//! `ironroot retrieval`: the publisher's request for an encrypted export of one shard, and what
//! the chain says about it (the open request, and the latest answer's CID read from the answering
//! transaction: the program keeps only the open request in the stake account).
use anchor_lang::{AnchorDeserialize, Discriminator};
use anyhow::Context as _;
use ironroot_sdk::pda;
use ironroot_sdk::storage_stake as sdk;
use serde_json::{json, Value};
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_rpc_client_api::config::RpcTransactionConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Signature, Signer};
use solana_transaction_status_client_types::UiTransactionEncoding;
use storage_stake::AnswerRetrievalArgs;

use super::stake::{load_stake, retrieval_json};
use super::{load_app, provider_or_me};
use crate::args::RetrievalCommand;
use crate::context::Context;
use crate::encoding::{cid_text, parse_pubkey, relative};

/// Position of the stake among `answer_retrieval`'s accounts (tee, tee_entry, app, shard, stake).
const ANSWER_STAKE_ACCOUNT: usize = 4;
/// How many of the stake's latest transactions `show` searches for an answer.
const ANSWER_SEARCH_DEPTH: usize = 200;

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
    }
}

/// The newest `answer_retrieval` for `stake` among its latest transactions.
fn latest_answer(ctx: &Context, stake: &Pubkey) -> anyhow::Result<Option<Value>> {
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
        for ix in decoded.message.instructions() {
            let program = keys.get(ix.program_id_index as usize);
            let names_stake = ix
                .accounts
                .get(ANSWER_STAKE_ACCOUNT)
                .and_then(|i| keys.get(*i as usize))
                .is_some_and(|k| k == stake);
            let Some(body) = ix.data.strip_prefix(storage_stake::instruction::AnswerRetrieval::DISCRIMINATOR)
            else {
                continue;
            };
            if program != Some(&storage_stake::ID) || !names_stake {
                continue;
            }
            if let Ok(args) = storage_stake::instruction::AnswerRetrieval::try_from_slice(body) {
                let AnswerRetrievalArgs { export_cid, root } = args.args;
                return Ok(Some(json!({
                    "signature": signature.to_string(),
                    "slot": tx.slot,
                    "export_cid": cid_text(&export_cid),
                    "root": hex::encode(root),
                })));
            }
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
            answer["export_cid"].as_str().unwrap_or(""),
            answer["root"].as_str().unwrap_or(""),
            answer["signature"].as_str().unwrap_or("")
        );
    }
    let json = json!({
        "stake": stake_address.to_string(),
        "provider": provider.to_string(),
        "retrieval": stake.retrieval.as_ref().map(|r| retrieval_json(r, now)),
        "last_retrieval_at": stake.last_retrieval_at,
        "latest_answer": answer,
        "signature": signature.map(|s| s.to_string()),
        "now": now,
    });
    ctx.emit(json, text);
    Ok(())
}
