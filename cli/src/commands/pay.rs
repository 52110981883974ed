//! `ironroot pay`: fund (publisher), claim (provider), show.
use ironroot_sdk::pda;
use ironroot_sdk::storage_stake as sdk;
use serde_json::json;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;

use super::stake::{load_stake, load_terms, token_account_or_ata, token_balance, token_setup};
use super::{load_app, provider_or_me};
use crate::args::{AppRef, PayCommand};
use crate::context::Context;
use crate::encoding::{parse_pubkey, relative};
use crate::token;

pub fn run(ctx: &Context, command: PayCommand) -> anyhow::Result<()> {
    match command {
        PayCommand::Fund { app, provider, amount, token } => {
            fund(ctx, &app, &parse_pubkey(&provider)?, amount, token.token_account)
        }
        PayCommand::Claim { app, token } => claim(ctx, &app, token.token_account),
        PayCommand::Show { app, provider } => {
            let loaded = load_app(ctx, &app)?;
            let provider = provider_or_me(ctx, &provider.provider)?;
            show(ctx, &loaded.address, &provider, None)
        }
    }
}

fn fund(
    ctx: &Context,
    app: &AppRef,
    provider: &Pubkey,
    amount: u64,
    from: Option<String>,
) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let token = token_setup(&load_terms(ctx, &loaded.address)?);
    let publisher = ctx.signer()?;
    let from = token_account_or_ata(&from, &publisher.pubkey(), &token)?;
    let ix = sdk::fund(&publisher.pubkey(), &loaded.address, provider, &from, token, amount);
    let signature = ctx.send(&publisher, &[ix], &[])?;
    show(ctx, &loaded.address, provider, Some(signature.to_string()))
}

fn claim(ctx: &Context, app: &AppRef, into: Option<String>) -> anyhow::Result<()> {
    let loaded = load_app(ctx, app)?;
    let token = token_setup(&load_terms(ctx, &loaded.address)?);
    let provider = ctx.signer()?;
    let into_address = token_account_or_ata(&into, &provider.pubkey(), &token)?;
    let mut ixs = Vec::new();
    if into.is_none() {
        ixs.push(token::create_associated_idempotent(
            &provider.pubkey(),
            &provider.pubkey(),
            &token.mint,
            &token.token_program,
        ));
    }
    let before = token_balance(ctx, &into_address, &token)?;
    ixs.push(sdk::claim_payment(&provider.pubkey(), &loaded.address, &into_address, token));
    let signature = ctx.send(&provider, &ixs, &[])?;
    let after = token_balance(ctx, &into_address, &token)?;
    eprintln!("Claimed {} into {into_address}", after.saturating_sub(before));
    show(ctx, &loaded.address, &provider.pubkey(), Some(signature.to_string()))
}

/// The escrow of `provider`'s stake at the cluster's current time.
fn show(ctx: &Context, app: &Pubkey, provider: &Pubkey, signature: Option<String>) -> anyhow::Result<()> {
    let terms = load_terms(ctx, app)?;
    let token = token_setup(&terms);
    let stake_address = pda::provider_stake(app, provider);
    let stake = load_stake(ctx, app, provider)?;
    let escrow = token_balance(ctx, &pda::stake_escrow(&stake_address), &token)?;
    let provider_balance =
        token_balance(ctx, &token::associated(provider, &token.mint, &token.token_program), &token)?;
    let now = ctx.clock()?.unix_timestamp;
    let state = stake
        .payment_state(&terms.params, escrow, now)
        .map_err(|err| anyhow::anyhow!("computing the payment state: {err}"))?;
    let bounded = |t: i64| if t == i64::MAX { None } else { Some(t) };
    let mut json = json!({
        "stake": stake_address.to_string(),
        "provider": provider.to_string(),
        "escrow_balance": escrow,
        "provider_token_balance": provider_balance,
        "funded": stake.funded,
        "payment_per_epoch": terms.params.payment_per_epoch,
        "epoch_secs": terms.params.epoch_secs,
        "paid_through": stake.paid_through,
        "claimable_epochs": state.claimable_epochs,
        "claimable_amount": state.claimable_amount,
        "funded_until": bounded(state.funded_until),
        "grace_until": bounded(state.grace_until),
        "in_grace": state.in_grace(now),
        "lapsed": state.lapsed(now),
        "now": now,
    });
    if let Some(signature) = signature {
        json["signature"] = json!(signature);
    }
    let mut text = format!(
        "Escrow of stake {stake_address}: {escrow} tokens ({} per {} s epoch)\n  paid through {} ({})\n  claimable now: {} ({} epochs)\n",
        terms.params.payment_per_epoch,
        terms.params.epoch_secs,
        stake.paid_through,
        relative(stake.paid_through - now),
        state.claimable_amount,
        state.claimable_epochs,
    );
    match bounded(state.funded_until) {
        Some(until) => {
            text += &format!(
                "  funded until {until} ({}), grace until {} ({})\n",
                relative(until - now),
                state.grace_until,
                relative(state.grace_until - now)
            )
        }
        None => text += "  never runs dry (unfunded or free service)\n",
    }
    if state.in_grace(now) {
        text += "  IN GRACE: the escrow ran dry; the provider stays bound while the publisher retrieves its data\n";
    } else if state.lapsed(now) {
        text += "  LAPSED: the grace period is over\n";
    }
    ctx.emit(json, text);
    Ok(())
}
