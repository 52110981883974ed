//! `ironroot challenge`: open (publisher), show, list, slash (anyone, once a deadline passed).
use ironroot_sdk::pda;
use ironroot_sdk::storage_stake::{self as sdk, Parties};
use serde_json::json;
use solana_sdk::signature::Signer;
use storage_stake::{share, ProviderStake};

use super::stake::{load_stake, load_terms, stake_json, token_balance, token_setup};
use super::{load_app, program_accounts, provider_or_me, shard_addresses};
use crate::args::{AppRef, ChallengeCommand};
use crate::context::Context;
use crate::encoding::{parse_pubkey, relative};
use crate::token;

pub fn run(ctx: &Context, command: ChallengeCommand) -> anyhow::Result<()> {
    match command {
        ChallengeCommand::Open { app, provider } => open(ctx, &app, &provider),
        ChallengeCommand::Show { app, provider } => show(ctx, &app, &provider.provider),
        ChallengeCommand::List(app) => list(ctx, &app),
        ChallengeCommand::Slash { app, provider } => slash(ctx, &app, &provider),
    }
}

fn open(ctx: &Context, app: &AppRef, provider: &str) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let provider = parse_pubkey(provider)?;
    let publisher = ctx.signer()?;
    let ix = sdk::open_challenge(&publisher.pubkey(), &loaded.address, &provider, &shard_addresses(&loaded));
    let signature = ctx.send(&publisher, &[ix], &[])?;
    let stake = load_stake(ctx, &loaded.address, &provider)?;
    let now = ctx.clock()?.unix_timestamp;
    let challenge = stake
        .challenge
        .ok_or_else(|| anyhow::anyhow!("the challenge was accepted but the stake shows none"))?;
    let json = json!({
        "stake": pda::provider_stake(&loaded.address, &provider).to_string(),
        "provider": provider.to_string(),
        "challenge": super::stake::challenge_json(&challenge, now),
        "signature": signature.to_string(),
    });
    let text = format!(
        "Challenged {provider} on shard {} (seq {}): answer due {} (deadline {})",
        challenge.shard_id,
        challenge.opened_seq,
        relative(challenge.deadline - now),
        challenge.deadline
    );
    ctx.emit(json, text);
    Ok(())
}

fn show(ctx: &Context, app: &AppRef, provider: &Option<String>) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let provider = provider_or_me(ctx, provider)?;
    let stake = load_stake(ctx, &loaded.address, &provider)?;
    let now = ctx.clock()?.unix_timestamp;
    let json = json!({
        "stake": pda::provider_stake(&loaded.address, &provider).to_string(),
        "provider": provider.to_string(),
        "status": format!("{:?}", stake.status),
        "challenges_opened": stake.challenges_opened,
        "challenge": stake.challenge.as_ref().map(|c| super::stake::challenge_json(c, now)),
        "now": now,
    });
    let text = match &stake.challenge {
        Some(c) => format!(
            "Open {:?} challenge of {provider}: shard {} seq {}, point {}\n  nonce {}\n  deadline {} ({}){}",
            c.kind,
            c.shard_id,
            c.opened_seq,
            hex::encode(c.point),
            hex::encode(c.nonce),
            c.deadline,
            relative(c.deadline - now),
            if now > c.deadline { "\n  overdue: `ironroot challenge slash` can slash the stake" } else { "" }
        ),
        None => format!("No open challenge for {provider} ({} opened so far)", stake.challenges_opened),
    };
    ctx.emit(json, text);
    Ok(())
}

fn list(ctx: &Context, app: &AppRef) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let stakes = program_accounts::<ProviderStake>(ctx, &storage_stake::ID, Some(&loaded.address))?;
    let now = ctx.clock()?.unix_timestamp;
    let mut text = format!("App {}: {} stakes\n", loaded.address, stakes.len());
    for (address, stake) in &stakes {
        text += &format!("  {} ({address}): {} staked, {:?}, ", stake.provider, stake.amount, stake.status);
        text += &match &stake.challenge {
            Some(c) => format!("challenge on shard {} due {}\n", c.shard_id, relative(c.deadline - now)),
            None => "no open challenge\n".into(),
        };
    }
    let rows: Vec<_> = stakes.iter().map(|(address, stake)| stake_json(address, stake, now)).collect();
    ctx.emit(json!({ "app": loaded.address.to_string(), "now": now, "stakes": rows }), text);
    Ok(())
}

fn slash(ctx: &Context, app: &AppRef, provider: &str) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let provider = parse_pubkey(provider)?;
    let terms = load_terms(ctx, &loaded.address)?;
    let token = token_setup(&terms);
    let stake = load_stake(ctx, &loaded.address, &provider)?;
    let publisher = loaded.app.publisher;
    let publisher_token = token::associated(&publisher, &token.mint, &token.token_program);
    let provider_token = token::associated(&provider, &token.mint, &token.token_program);
    let to_publisher = share(stake.amount, terms.params.slash_to_publisher_bps);
    eprintln!(
        "Slashing {provider}'s stake of {} tokens for app {}: about {to_publisher} to the publisher \
         ({publisher_token}), the rest burned (a self-reported corruption refunds part to the provider).",
        stake.amount, loaded.address
    );
    ctx.confirm("Slash?")?;
    let cranker = ctx.signer()?;
    let before = token_balance(ctx, &publisher_token, &token)?;
    let ixs = vec![
        token::create_associated_idempotent(&cranker.pubkey(), &publisher, &token.mint, &token.token_program),
        token::create_associated_idempotent(&cranker.pubkey(), &provider, &token.mint, &token.token_program),
        sdk::slash(&loaded.address, Parties { publisher, publisher_token, provider, provider_token }, token),
    ];
    let signature = ctx.send(&cranker, &ixs, &[])?;
    let after_stake = load_stake(ctx, &loaded.address, &provider)?;
    let after = token_balance(ctx, &publisher_token, &token)?;
    let now = ctx.clock()?.unix_timestamp;
    let stake_address = pda::provider_stake(&loaded.address, &provider);
    let json = json!({
        "stake": stake_json(&stake_address, &after_stake, now),
        "slashed_amount": stake.amount,
        "publisher_token": publisher_token.to_string(),
        "publisher_balance_before": before,
        "publisher_balance_after": after,
        "vault_balance_after": token_balance(ctx, &pda::stake_vault(&stake_address), &token)?,
        "signature": signature.to_string(),
    });
    ctx.emit(
        json,
        format!(
            "Slashed {provider}: the publisher's token account went from {before} to {after}; stake is {:?}",
            after_stake.status
        ),
    );
    Ok(())
}
