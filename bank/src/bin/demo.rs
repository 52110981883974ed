//! The main job, for now: an in-process bank with the real programs, a development attester set,
//! and one TEE key registered through the attestation verifier.
use anyhow::{bail, Context};
use ironroot_bank::dev::DevTrust;
use ironroot_sdk::registry::{decode_tee_entry, decode_verifier_config, tee_key_status};
use ironroot_sdk::{pda, transaction_size, PACKET_DATA_SIZE};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The bank logs every instruction at debug level; the demo prints its own report.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    // Native programs print their logs to stdout as they run; the report comes after them.
    let mut report: Vec<String> = Vec::new();
    let trust = DevTrust::new(3, 2);
    let mut bank = trust.start_bank().await.context("initialising the verifier")?;
    let config_address = pda::verifier_config();
    let config_account = bank.account(&config_address).await.context("config account missing")?;
    let config = decode_verifier_config(&config_address, &config_account)?;
    report.push("Ironroot demo: in-process bank, programs on their native entrypoints".to_string());
    report.push(format!("  cluster genesis     {}", bank.genesis_hash()));
    report.push(format!("  verifier config     {config_address}"));
    report.push(format!("  governance          {}", config.authority));
    report.push(format!("  attesters           {} (threshold {})", config.attesters.len(), config.threshold));
    report.push(format!("  allowed measurement {}", hex(&trust.measurement)));

    let tee = Keypair::new();
    let now = bank.clock().await.unix_timestamp;
    let statement = trust.statement(&bank, &tee, 1, now);
    let ixs = trust.registration(&bank, &statement);
    let tx = bank.transaction(&ixs, &[&tee]).await;
    let size = transaction_size(&tx);
    bank.send(tx).await.context("register_tee")?;

    let entry_address = pda::tee_entry(&tee.pubkey());
    let account = bank.account(&entry_address).await;
    let status = tee_key_status(&entry_address, account.as_ref(), now)?;
    let entry = decode_tee_entry(&entry_address, account.as_ref().context("entry missing")?)?;
    report.push(format!("Registered TEE key {} through the verifier", tee.pubkey()));
    report.push(format!("  registry entry      {entry_address}"));
    report.push(format!("  status              {status:?}"));
    report.push(format!("  statement hash      {}", hex(&entry.statement_hash)));
    report.push(format!(
        "  register_tee tx     {size} bytes ({} signatures, limit {PACKET_DATA_SIZE})",
        trust.threshold
    ));

    let stranger = Pubkey::new_unique();
    let stranger_entry = pda::tee_entry(&stranger);
    let unknown = tee_key_status(&stranger_entry, bank.account(&stranger_entry).await.as_ref(), now)?;
    report.push(format!("An unattested key   {stranger}: {unknown:?}"));
    println!("\n{}", report.join("\n"));
    if !status.is_valid() {
        bail!("the registered key is not valid: {status:?}");
    }
    Ok(())
}
