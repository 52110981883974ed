//! `ironroot governance`: the attestation verifier's config (attesters, allowed measurements,
//! policy), TEE key revocation and the two-step authority rotation; `apps` lists every app.
use anyhow::bail;
use app_roots::App;
use attestation_verifier::{AllowedTee, AppIdentity, InitializeArgs, Policy, VerifierConfig};
use ironroot_sdk::pda;
use ironroot_sdk::registry::decode_verifier_config;
use ironroot_sdk::verifier;
use serde_json::{json, Value};
use solana_sdk::signature::Signer;

use super::{app_json, decode_required, program_accounts};
use crate::args::{GovernanceCommand, GovernancePolicyArgs, MeasurementAction};
use crate::context::Context;
use crate::encoding::{parse_hex32, parse_pubkey};

/// What `init` uses for unset policy flags.
const DEFAULT_POLICY: Policy = Policy {
    accepted_tcb: 0b11,
    max_key_lifetime_secs: 30 * 86_400,
    max_statement_age_secs: 600,
    nonce_floor: 0,
    require_quote_signatures: false,
};

pub fn run(ctx: &Context, command: GovernanceCommand) -> anyhow::Result<()> {
    match command {
        GovernanceCommand::Show => show(ctx, None),
        GovernanceCommand::Init { authority, attesters, threshold, policy } => {
            init(ctx, authority, &attesters, threshold, &policy)
        }
        GovernanceCommand::Attesters { set, threshold } => attesters(ctx, &set, threshold),
        GovernanceCommand::Measurements { action } => measurements(ctx, action),
        GovernanceCommand::Apps => apps(ctx),
        GovernanceCommand::Policy { policy } => set_policy(ctx, &policy),
        GovernanceCommand::Revoke { tee } => {
            let tee = parse_pubkey(&tee)?;
            let entry = pda::tee_entry(&tee);
            ctx.require_account(&entry, "registry entry of that TEE key")?;
            ctx.confirm(&format!("Revoke TEE key {tee}? It can no longer sign for any app."))?;
            let authority = ctx.signer()?;
            let signature = ctx.send(&authority, &[verifier::revoke_tee(&authority.pubkey(), &tee)], &[])?;
            let account = ctx.require_account(&entry, "registry entry")?;
            let decoded = ironroot_sdk::registry::decode_tee_entry(&entry, &account)?;
            ctx.emit(
                json!({ "tee": tee.to_string(), "revoked": decoded.revoked, "revoked_at": decoded.revoked_at, "signature": signature.to_string() }),
                format!("Revoked {tee}"),
            );
            Ok(())
        }
        GovernanceCommand::ProposeAuthority { new_authority } => {
            let new_authority = parse_pubkey(&new_authority)?;
            ctx.confirm(&format!("Propose {new_authority} as the new governance authority?"))?;
            let authority = ctx.signer()?;
            let signature = ctx.send(
                &authority,
                &[verifier::propose_authority(&authority.pubkey(), new_authority)],
                &[],
            )?;
            show(ctx, Some(signature.to_string()))
        }
        GovernanceCommand::AcceptAuthority => {
            let authority = ctx.signer()?;
            let signature = ctx.send(&authority, &[verifier::accept_authority(&authority.pubkey())], &[])?;
            show(ctx, Some(signature.to_string()))
        }
    }
}

fn load(ctx: &Context) -> anyhow::Result<VerifierConfig> {
    decode_required(ctx, &pda::verifier_config(), "the verifier's governance config", decode_verifier_config)
}

fn policy_json(policy: &Policy) -> Value {
    json!({
        "accepted_tcb": policy.accepted_tcb,
        "max_key_lifetime_secs": policy.max_key_lifetime_secs,
        "max_statement_age_secs": policy.max_statement_age_secs,
        "nonce_floor": policy.nonce_floor,
        "require_quote_signatures": policy.require_quote_signatures,
    })
}

fn allowed_json(allowed: &AllowedTee) -> Value {
    json!({
        "measurement": hex::encode(allowed.measurement),
        "app_id": hex::encode(allowed.app.app_id),
        "compose_hash": hex::encode(allowed.app.compose_hash),
        "max_tcb_status": allowed.max_tcb_status,
    })
}

fn config_json(config: &VerifierConfig) -> Value {
    json!({
        "config": pda::verifier_config().to_string(),
        "authority": config.authority.to_string(),
        "pending_authority": config.pending_authority.map(|k| k.to_string()),
        "cluster_genesis_hash": bs58::encode(config.cluster_genesis_hash).into_string(),
        "attesters": config.attesters.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        "threshold": config.threshold,
        "allowed": config.allowed.iter().map(allowed_json).collect::<Vec<_>>(),
        "policy": policy_json(&config.policy),
    })
}

fn config_text(config: &VerifierConfig) -> String {
    let mut text = format!(
        "Governance config {}\n  authority: {}{}\n  attesters ({} of {}): {}\n  policy: accepted TCB mask {:#b}, key lifetime {} s, statement age {} s, nonce floor {}, quote signatures on-chain {}\n  allowed:\n",
        pda::verifier_config(),
        config.authority,
        config.pending_authority.map(|k| format!(" (proposed: {k})")).unwrap_or_default(),
        config.threshold,
        config.attesters.len(),
        config.attesters.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "),
        config.policy.accepted_tcb,
        config.policy.max_key_lifetime_secs,
        config.policy.max_statement_age_secs,
        config.policy.nonce_floor,
        if config.policy.require_quote_signatures { "required" } else { "not required" },
    );
    for allowed in &config.allowed {
        text += &format!(
            "    measurement {} app {} compose {} (TCB floor {})\n",
            hex::encode(allowed.measurement),
            hex::encode(allowed.app.app_id),
            hex::encode(allowed.app.compose_hash),
            allowed.max_tcb_status
        );
    }
    text
}

fn show(ctx: &Context, signature: Option<String>) -> anyhow::Result<()> {
    let config = load(ctx)?;
    let mut json = config_json(&config);
    if let Some(signature) = signature {
        json["signature"] = json!(signature);
    }
    ctx.emit(json, config_text(&config));
    Ok(())
}

fn merge(args: &GovernancePolicyArgs, base: &Policy) -> Policy {
    Policy {
        accepted_tcb: args.accepted_tcb.unwrap_or(base.accepted_tcb),
        max_key_lifetime_secs: args.max_key_lifetime_secs.unwrap_or(base.max_key_lifetime_secs),
        max_statement_age_secs: args.max_statement_age_secs.unwrap_or(base.max_statement_age_secs),
        nonce_floor: args.nonce_floor.unwrap_or(base.nonce_floor),
        require_quote_signatures: args.require_quote_signatures.unwrap_or(base.require_quote_signatures),
    }
}

fn init(
    ctx: &Context,
    authority: Option<String>,
    attesters: &[String],
    threshold: u8,
    policy: &GovernancePolicyArgs,
) -> anyhow::Result<()> {
    let upgrade_authority = ctx.signer()?;
    let authority = match authority {
        Some(text) => parse_pubkey(&text)?,
        None => upgrade_authority.pubkey(),
    };
    let attesters = attesters.iter().map(|a| parse_pubkey(a)).collect::<anyhow::Result<Vec<_>>>()?;
    let genesis = ctx.rpc.get_genesis_hash()?;
    let args = InitializeArgs {
        authority,
        cluster_genesis_hash: genesis.to_bytes(),
        attesters,
        threshold,
        policy: merge(policy, &DEFAULT_POLICY),
    };
    let signature =
        ctx.send(&upgrade_authority, &[verifier::initialize(&upgrade_authority.pubkey(), args)], &[])?;
    show(ctx, Some(signature.to_string()))
}

fn attesters(ctx: &Context, set: &[String], threshold: Option<u8>) -> anyhow::Result<()> {
    let config = load(ctx)?;
    if set.is_empty() && threshold.is_none() {
        return show(ctx, None);
    }
    let keys = if set.is_empty() {
        config.attesters.clone()
    } else {
        set.iter().map(|a| parse_pubkey(a)).collect::<anyhow::Result<Vec<_>>>()?
    };
    let threshold = threshold.unwrap_or(config.threshold);
    ctx.confirm(&format!(
        "Replace the attester set with {} keys, threshold {threshold}? Outstanding statements from removed attesters stop counting.",
        keys.len()
    ))?;
    let authority = ctx.signer()?;
    let signature =
        ctx.send(&authority, &[verifier::set_attesters(&authority.pubkey(), keys, threshold)], &[])?;
    show(ctx, Some(signature.to_string()))
}

fn measurements(ctx: &Context, action: Option<MeasurementAction>) -> anyhow::Result<()> {
    let Some(action) = action else { return show(ctx, None) };
    let authority = ctx.signer()?;
    let ix = match action {
        MeasurementAction::Add { measurement, app_id, compose_hash, max_tcb_status } => {
            let allowed = AllowedTee {
                measurement: parse_hex32(&measurement)?,
                app: AppIdentity { app_id: parse_hex32(&app_id)?, compose_hash: parse_hex32(&compose_hash)? },
                max_tcb_status,
            };
            verifier::add_allowed(&authority.pubkey(), allowed)
        }
        MeasurementAction::Remove { measurement, app_id, compose_hash } => {
            ctx.confirm("Stop allowing this pair? New registrations with it are refused (registered keys stay until revoked).")?;
            let app =
                AppIdentity { app_id: parse_hex32(&app_id)?, compose_hash: parse_hex32(&compose_hash)? };
            verifier::remove_allowed(&authority.pubkey(), parse_hex32(&measurement)?, app)
        }
    };
    let signature = ctx.send(&authority, &[ix], &[])?;
    show(ctx, Some(signature.to_string()))
}

fn set_policy(ctx: &Context, args: &GovernancePolicyArgs) -> anyhow::Result<()> {
    let config = load(ctx)?;
    if args.is_empty() {
        return show(ctx, None);
    }
    let policy = merge(args, &config.policy);
    if policy.nonce_floor < config.policy.nonce_floor {
        bail!(
            "--nonce-floor {} is below the current {}: the floor only goes up",
            policy.nonce_floor,
            config.policy.nonce_floor
        );
    }
    ctx.confirm(&format!("Replace the verifier policy with {}?", policy_json(&policy)))?;
    let authority = ctx.signer()?;
    let signature = ctx.send(&authority, &[verifier::set_policy(&authority.pubkey(), policy)], &[])?;
    show(ctx, Some(signature.to_string()))
}

fn apps(ctx: &Context) -> anyhow::Result<()> {
    let apps = program_accounts::<App>(ctx, &app_roots::ID, None)?;
    let mut text = format!("{} apps\n", apps.len());
    for (address, app) in &apps {
        text += &format!(
            "  {address}: app id {} publisher {} {:?}, {} shards, {} history leaves\n",
            hex::encode(app.app_id),
            app.publisher,
            app.status,
            app.shard_count,
            app.history_len
        );
    }
    let rows: Vec<_> = apps.iter().map(|(address, app)| app_json(address, app)).collect();
    ctx.emit(json!({ "apps": rows }), text);
    Ok(())
}
