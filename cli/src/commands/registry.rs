//! `ironroot registry`: one TEE key's entry and status, or every key's.
use ironroot_sdk::pda;
use ironroot_sdk::registry::decode_tee_entry;
use serde_json::{json, Value};
use solana_sdk::pubkey::Pubkey;
use tee_registry::TeeEntry;

use super::program_accounts;
use crate::args::RegistryCommand;
use crate::context::Context;
use crate::encoding::{parse_pubkey, relative};

pub fn run(ctx: &Context, command: RegistryCommand) -> anyhow::Result<()> {
    match command {
        RegistryCommand::Show { tee, expiring } => {
            show(ctx, &parse_pubkey(&tee)?, expiring.expiring_within_secs)
        }
        RegistryCommand::List { expiring } => list(ctx, expiring.expiring_within_secs),
    }
}

/// `valid`, `expiring` (valid, but not for `window` more seconds), `expired` or `revoked`.
pub fn status(entry: &TeeEntry, now: i64, window: i64) -> &'static str {
    if entry.revoked {
        "revoked"
    } else if now >= entry.expires_at {
        "expired"
    } else if entry.expires_at - now <= window {
        "expiring"
    } else {
        "valid"
    }
}

fn entry_json(address: &Pubkey, entry: &TeeEntry, now: i64, window: i64) -> Value {
    json!({
        "tee": entry.tee_pubkey.to_string(),
        "entry": address.to_string(),
        "status": status(entry, now, window),
        "measurement": hex::encode(entry.measurement),
        "app_id": hex::encode(entry.app_id),
        "compose_hash": hex::encode(entry.compose_hash),
        "tcb_status": entry.tcb_status,
        "registered_at": entry.registered_at,
        "refreshed_at": entry.refreshed_at,
        "expires_at": entry.expires_at,
        "seconds_left": entry.expires_at - now,
        "revoked": entry.revoked,
        "revoked_at": if entry.revoked { Some(entry.revoked_at) } else { None },
        "last_nonce": entry.last_nonce,
    })
}

fn line(entry: &TeeEntry, now: i64, window: i64) -> String {
    let when = if entry.revoked {
        format!("revoked {}", relative(entry.revoked_at - now))
    } else {
        format!("expires {}", relative(entry.expires_at - now))
    };
    format!(
        "{} {}: {when}, measurement {}",
        entry.tee_pubkey,
        status(entry, now, window),
        hex::encode(entry.measurement)
    )
}

fn show(ctx: &Context, tee: &Pubkey, window: i64) -> anyhow::Result<()> {
    let address = pda::tee_entry(tee);
    let now = ctx.clock()?.unix_timestamp;
    match ctx.account(&address)? {
        None => ctx.emit(
            json!({ "tee": tee.to_string(), "entry": address.to_string(), "status": "not_registered" }),
            format!("{tee} is not registered"),
        ),
        Some(account) => {
            let entry = decode_tee_entry(&address, &account)?;
            let text = format!(
                "{}\n  app id {}\n  compose hash {}\n  TCB status {}, registered at {}, refreshed at {}",
                line(&entry, now, window),
                hex::encode(entry.app_id),
                hex::encode(entry.compose_hash),
                entry.tcb_status,
                entry.registered_at,
                entry.refreshed_at
            );
            ctx.emit(entry_json(&address, &entry, now, window), text);
        }
    }
    Ok(())
}

fn list(ctx: &Context, window: i64) -> anyhow::Result<()> {
    let entries = program_accounts::<TeeEntry>(ctx, &tee_registry::ID, None)?;
    let now = ctx.clock()?.unix_timestamp;
    let mut text = format!("{} registered TEE keys\n", entries.len());
    for (_, entry) in &entries {
        text += &format!("  {}\n", line(entry, now, window));
    }
    let rows: Vec<_> =
        entries.iter().map(|(address, entry)| entry_json(address, entry, now, window)).collect();
    ctx.emit(json!({ "now": now, "entries": rows }), text);
    Ok(())
}
