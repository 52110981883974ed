//! `ironroot stake`: terms (show, init, propose, apply), deposit, unstake, withdraw, show.
use ironroot_sdk::pda;
use ironroot_sdk::storage_stake::{self as sdk, Parties, TokenSetup};
use serde_json::{json, Value};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use storage_stake::{Challenge, ProviderStake, Retrieval, StakeTerms, TermsParams};

use super::{decode_required, load_app, provider_or_me, LoadedApp};
use crate::args::{AppRef, StakeCommand, TermsAction, TermsArgs};
use crate::context::Context;
use crate::encoding::{parse_pubkey, relative};
use crate::token;

pub fn run(ctx: &Context, command: StakeCommand) -> anyhow::Result<()> {
    match command {
        StakeCommand::Terms { app, action } => terms(ctx, &app, action),
        StakeCommand::Deposit { app, amount, token } => deposit(ctx, &app, amount, token.token_account),
        StakeCommand::Unstake(app) => unstake(ctx, &app),
        StakeCommand::Withdraw { app, token } => withdraw(ctx, &app, token.token_account),
        StakeCommand::Show { app, provider } => show(ctx, &app, &provider.provider),
    }
}

pub fn load_terms(ctx: &Context, app: &Pubkey) -> anyhow::Result<StakeTerms> {
    decode_required(ctx, &pda::stake_terms(app), "the app's stake terms", sdk::decode_terms)
}

pub fn load_stake(ctx: &Context, app: &Pubkey, provider: &Pubkey) -> anyhow::Result<ProviderStake> {
    decode_required(ctx, &pda::provider_stake(app, provider), "the provider's stake", sdk::decode_stake)
}

pub fn token_setup(terms: &StakeTerms) -> TokenSetup {
    TokenSetup { mint: terms.mint, token_program: terms.token_program }
}

/// `--token-account`, else `owner`'s associated token account for the terms' mint.
pub fn token_account_or_ata(
    text: &Option<String>,
    owner: &Pubkey,
    token: &TokenSetup,
) -> anyhow::Result<Pubkey> {
    match text {
        Some(text) => parse_pubkey(text),
        None => Ok(token::associated(owner, &token.mint, &token.token_program)),
    }
}

/// Token balance of `address` (0 if it does not exist).
pub fn token_balance(ctx: &Context, address: &Pubkey, token: &TokenSetup) -> anyhow::Result<u64> {
    Ok(token::balance(ctx.account(address)?.as_ref(), &token.token_program).unwrap_or(0))
}

pub fn params_json(p: &TermsParams) -> Value {
    json!({
        "min_stake": p.min_stake,
        "answer_window_secs": p.answer_window_secs,
        "recovery_window_secs": p.recovery_window_secs,
        "retrieval_window_secs": p.retrieval_window_secs,
        "unstake_cooldown_secs": p.unstake_cooldown_secs,
        "slash_to_publisher_bps": p.slash_to_publisher_bps,
        "corruption_refund_bps": p.corruption_refund_bps,
        "challenge_bond_lamports": p.challenge_bond_lamports,
        "bond_to_provider_on_answer": p.bond_to_provider_on_answer,
        "challenge_interval_secs": p.challenge_interval_secs,
        "payment_per_epoch": p.payment_per_epoch,
        "epoch_secs": p.epoch_secs,
        "grace_secs": p.grace_secs,
    })
}

fn params_text(p: &TermsParams) -> String {
    format!(
        "  minimum stake: {}\n  answer window: {} s, recovery window: {} s, retrieval window: {} s\n  \
         unstake cool-down: {} s\n  slash to publisher: {} bps, corruption refund: {} bps\n  \
         challenge bond: {} lamports (to provider on answer: {}), interval {} s\n  \
         payment: {} per {} s epoch, grace {} s\n",
        p.min_stake,
        p.answer_window_secs,
        p.recovery_window_secs,
        p.retrieval_window_secs,
        p.unstake_cooldown_secs,
        p.slash_to_publisher_bps,
        p.corruption_refund_bps,
        p.challenge_bond_lamports,
        p.bond_to_provider_on_answer,
        p.challenge_interval_secs,
        p.payment_per_epoch,
        p.epoch_secs,
        p.grace_secs
    )
}

/// The flags over `base`.
fn merge(args: &TermsArgs, base: &TermsParams) -> TermsParams {
    TermsParams {
        min_stake: args.min_stake.unwrap_or(base.min_stake),
        answer_window_secs: args.answer_window_secs.unwrap_or(base.answer_window_secs),
        recovery_window_secs: args.recovery_window_secs.unwrap_or(base.recovery_window_secs),
        retrieval_window_secs: args.retrieval_window_secs.unwrap_or(base.retrieval_window_secs),
        unstake_cooldown_secs: args.unstake_cooldown_secs.unwrap_or(base.unstake_cooldown_secs),
        slash_to_publisher_bps: args.slash_to_publisher_bps.unwrap_or(base.slash_to_publisher_bps),
        corruption_refund_bps: args.corruption_refund_bps.unwrap_or(base.corruption_refund_bps),
        challenge_bond_lamports: args.challenge_bond_lamports.unwrap_or(base.challenge_bond_lamports),
        bond_to_provider_on_answer: args.bond_to_provider.unwrap_or(base.bond_to_provider_on_answer),
        challenge_interval_secs: args.challenge_interval_secs.unwrap_or(base.challenge_interval_secs),
        payment_per_epoch: args.payment_per_epoch.unwrap_or(base.payment_per_epoch),
        epoch_secs: args.epoch_secs.unwrap_or(base.epoch_secs),
        grace_secs: args.grace_secs.unwrap_or(base.grace_secs),
    }
}

const DEFAULT_TERMS: TermsParams = TermsParams {
    min_stake: 0,
    answer_window_secs: 3600,
    recovery_window_secs: 86_400,
    retrieval_window_secs: 86_400,
    unstake_cooldown_secs: 7 * 86_400,
    slash_to_publisher_bps: 10_000,
    corruption_refund_bps: 5_000,
    challenge_bond_lamports: 0,
    bond_to_provider_on_answer: false,
    challenge_interval_secs: 3600,
    payment_per_epoch: 0,
    epoch_secs: 86_400,
    grace_secs: 7 * 86_400,
};

fn terms_json(app: &Pubkey, terms: &StakeTerms) -> Value {
    json!({
        "app": app.to_string(),
        "terms": pda::stake_terms(app).to_string(),
        "mint": terms.mint.to_string(),
        "token_program": terms.token_program.to_string(),
        "params": params_json(&terms.params),
        "pending": terms.pending.as_ref().map(params_json),
        "pending_effective_at": terms.pending.as_ref().map(|_| terms.pending_effective_at),
    })
}

fn show_terms(ctx: &Context, app: &Pubkey, signature: Option<String>) -> anyhow::Result<()> {
    let terms = load_terms(ctx, app)?;
    let mut json = terms_json(app, &terms);
    if let Some(signature) = signature {
        json["signature"] = json!(signature);
    }
    let mut text = format!(
        "Stake terms of app {app}\n  mint: {} ({})\n{}",
        terms.mint,
        terms.token_program,
        params_text(&terms.params)
    );
    if let Some(pending) = &terms.pending {
        let now = ctx.clock()?.unix_timestamp;
        text += &format!(
            "Pending change, applies at {} ({}):\n{}",
            terms.pending_effective_at,
            relative(terms.pending_effective_at - now),
            params_text(pending)
        );
    }
    ctx.emit(json, text);
    Ok(())
}

fn terms(ctx: &Context, app: &AppRef, action: Option<TermsAction>) -> anyhow::Result<()> {
    let LoadedApp { address, .. } = load_app(ctx, app)?;
    let signature = match action {
        None => return show_terms(ctx, &address, None),
        Some(TermsAction::Init { mint, params }) => {
            let mint = parse_pubkey(&mint)?;
            let mint_account = ctx.require_account(&mint, "mint")?;
            let token = TokenSetup { mint, token_program: mint_account.owner };
            if params.min_stake.is_none() {
                anyhow::bail!("--min-stake is required when creating terms");
            }
            let params = merge(&params, &DEFAULT_TERMS);
            let publisher = ctx.signer()?;
            ctx.send(&publisher, &[sdk::init_terms(&publisher.pubkey(), &address, token, params)], &[])?
        }
        Some(TermsAction::Propose { params }) => {
            let current = load_terms(ctx, &address)?;
            let params = merge(&params, &current.params);
            eprintln!(
                "Proposing new terms for app {address}:\n{}(they apply after the notice: cool-down + answer window)",
                params_text(&params)
            );
            ctx.confirm("Propose these terms?")?;
            let publisher = ctx.signer()?;
            ctx.send(&publisher, &[sdk::propose_terms(&publisher.pubkey(), &address, params)], &[])?
        }
        Some(TermsAction::Apply) => {
            let payer = ctx.signer()?;
            ctx.send(&payer, &[sdk::apply_terms(&address)], &[])?
        }
    };
    show_terms(ctx, &address, Some(signature.to_string()))
}

fn deposit(ctx: &Context, app: &AppRef, amount: u64, token_account: Option<String>) -> anyhow::Result<()> {
    let LoadedApp { address, .. } = load_app(ctx, app)?;
    let terms = load_terms(ctx, &address)?;
    let token = token_setup(&terms);
    let provider = ctx.signer()?;
    let from = token_account_or_ata(&token_account, &provider.pubkey(), &token)?;
    let stake_address = pda::provider_stake(&address, &provider.pubkey());
    let mut ixs = Vec::new();
    let opened = ctx.account(&stake_address)?.is_none();
    if opened {
        ixs.push(sdk::open_stake(&provider.pubkey(), &address, token));
    }
    ixs.push(sdk::stake(&provider.pubkey(), &address, &from, token, amount));
    let signature = ctx.send(&provider, &ixs, &[])?;
    let stake = load_stake(ctx, &address, &provider.pubkey())?;
    let vault = token_balance(ctx, &pda::stake_vault(&stake_address), &token)?;
    let mut json = stake_json(&stake_address, &stake, ctx.clock()?.unix_timestamp);
    json["vault_balance"] = json!(vault);
    json["opened"] = json!(opened);
    json["signature"] = json!(signature.to_string());
    ctx.emit(
        json,
        format!("Staked {amount} for app {address}: stake {stake_address} now holds {}", stake.amount),
    );
    Ok(())
}

fn unstake(ctx: &Context, app: &AppRef) -> anyhow::Result<()> {
    let LoadedApp { address, .. } = load_app(ctx, app)?;
    let terms = load_terms(ctx, &address)?;
    let provider = ctx.signer()?;
    let stake = load_stake(ctx, &address, &provider.pubkey())?;
    eprintln!(
        "Unstaking {} from app {address}: no more deposits; you stay liable to challenges for the \
         {} s cool-down, then `ironroot stake withdraw`.",
        stake.amount, terms.params.unstake_cooldown_secs
    );
    ctx.confirm("Start the cool-down?")?;
    let signature = ctx.send(&provider, &[sdk::request_unstake(&provider.pubkey(), &address)], &[])?;
    let stake_address = pda::provider_stake(&address, &provider.pubkey());
    let after = load_stake(ctx, &address, &provider.pubkey())?;
    let mut json = stake_json(&stake_address, &after, ctx.clock()?.unix_timestamp);
    json["signature"] = json!(signature.to_string());
    ctx.emit(json, format!("Unstaking: withdraw possible at {} (unix time)", after.unlock_at));
    Ok(())
}

fn withdraw(ctx: &Context, app: &AppRef, token_account: Option<String>) -> anyhow::Result<()> {
    let LoadedApp { address, app: a } = load_app(ctx, app)?;
    let terms = load_terms(ctx, &address)?;
    let token = token_setup(&terms);
    let provider = ctx.signer()?;
    let stake_address = pda::provider_stake(&address, &provider.pubkey());
    let stake = load_stake(ctx, &address, &provider.pubkey())?;
    let provider_token = token_account_or_ata(&token_account, &provider.pubkey(), &token)?;
    let publisher_token = token::associated(&a.publisher, &token.mint, &token.token_program);
    eprintln!(
        "Withdrawing stake {stake_address} ({} tokens) and the accrued payment to {provider_token}; \
         the stake account closes.",
        stake.amount
    );
    ctx.confirm("Withdraw and close the stake?")?;
    let mut ixs = vec![token::create_associated_idempotent(
        &provider.pubkey(),
        &a.publisher,
        &token.mint,
        &token.token_program,
    )];
    if token_account.is_none() {
        ixs.push(token::create_associated_idempotent(
            &provider.pubkey(),
            &provider.pubkey(),
            &token.mint,
            &token.token_program,
        ));
    }
    let parties =
        Parties { publisher: a.publisher, publisher_token, provider: provider.pubkey(), provider_token };
    ixs.push(sdk::withdraw(&address, parties, token));
    let signature = ctx.send(&provider, &ixs, &[])?;
    let balance = token_balance(ctx, &provider_token, &token)?;
    let json = json!({
        "stake": stake_address.to_string(),
        "withdrawn": stake.amount,
        "closed": ctx.account(&stake_address)?.is_none(),
        "provider_token": provider_token.to_string(),
        "provider_token_balance": balance,
        "signature": signature.to_string(),
    });
    ctx.emit(json, format!("Withdrew {} tokens; {provider_token} now holds {balance}", stake.amount));
    Ok(())
}

pub fn challenge_json(challenge: &Challenge, now: i64) -> Value {
    json!({
        "kind": format!("{:?}", challenge.kind),
        "shard_id": challenge.shard_id,
        "point": hex::encode(challenge.point),
        "nonce": hex::encode(challenge.nonce),
        "opened_seq": challenge.opened_seq,
        "opened_root": hex::encode(challenge.opened_root),
        "source_slot": challenge.source_slot,
        "opened_at": challenge.opened_at,
        "deadline": challenge.deadline,
        "seconds_left": challenge.deadline - now,
        "overdue": now > challenge.deadline,
        "bond_lamports": challenge.bond_lamports,
        "bond_to_provider": challenge.bond_to_provider,
    })
}

pub fn retrieval_json(retrieval: &Retrieval, now: i64) -> Value {
    json!({
        "shard_id": retrieval.shard_id,
        "requested_seq": retrieval.requested_seq,
        "requested_at": retrieval.requested_at,
        "deadline": retrieval.deadline,
        "seconds_left": retrieval.deadline - now,
        "overdue": now > retrieval.deadline,
    })
}

pub fn stake_json(address: &Pubkey, stake: &ProviderStake, now: i64) -> Value {
    json!({
        "stake": address.to_string(),
        "app": stake.app.to_string(),
        "provider": stake.provider.to_string(),
        "mint": stake.mint.to_string(),
        "amount": stake.amount,
        "status": format!("{:?}", stake.status),
        "unlock_at": stake.unlock_at,
        "tee_keys": stake.tee_keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        "challenge": stake.challenge.as_ref().map(|c| challenge_json(c, now)),
        "challenges_opened": stake.challenges_opened,
        "last_challenge_at": stake.last_challenge_at,
        "retrieval": stake.retrieval.as_ref().map(|r| retrieval_json(r, now)),
        "funded": stake.funded,
        "paid_through": stake.paid_through,
        "provider_bond_credit": stake.provider_bond_credit,
        "publisher_bond_credit": stake.publisher_bond_credit,
        "created_at": stake.created_at,
    })
}

fn show(ctx: &Context, app: &AppRef, provider: &Option<String>) -> anyhow::Result<()> {
    let LoadedApp { address, .. } = load_app(ctx, app)?;
    let provider = provider_or_me(ctx, provider)?;
    let terms = load_terms(ctx, &address)?;
    let token = token_setup(&terms);
    let stake_address = pda::provider_stake(&address, &provider);
    let stake = load_stake(ctx, &address, &provider)?;
    let now = ctx.clock()?.unix_timestamp;
    let vault = token_balance(ctx, &pda::stake_vault(&stake_address), &token)?;
    let escrow = token_balance(ctx, &pda::stake_escrow(&stake_address), &token)?;
    let mut json = stake_json(&stake_address, &stake, now);
    json["vault_balance"] = json!(vault);
    json["escrow_balance"] = json!(escrow);
    let mut text = format!(
        "Stake {stake_address}\n  provider: {provider}\n  amount: {} (vault {vault}), status {:?}\n  TEE keys: {}\n  escrow: {escrow}\n",
        stake.amount,
        stake.status,
        if stake.tee_keys.is_empty() { "none".into() } else { stake.tee_keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ") },
    );
    match &stake.challenge {
        Some(c) => {
            text += &format!(
                "  open {:?} challenge on shard {}: deadline {}\n",
                c.kind,
                c.shard_id,
                relative(c.deadline - now)
            )
        }
        None => text += "  no open challenge\n",
    }
    if let Some(r) = &stake.retrieval {
        text +=
            &format!("  open retrieval of shard {}: deadline {}\n", r.shard_id, relative(r.deadline - now));
    }
    ctx.emit(json, text);
    Ok(())
}
