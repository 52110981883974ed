//! Program-derived addresses of every Ironroot account.
use solana_sdk::pubkey::Pubkey;

pub fn verifier_config() -> Pubkey {
    Pubkey::find_program_address(&[attestation_verifier::CONFIG_SEED], &attestation_verifier::ID).0
}

pub fn verifier_authority() -> Pubkey {
    Pubkey::find_program_address(&[attestation_verifier::VERIFIER_AUTHORITY_SEED], &attestation_verifier::ID)
        .0
}

/// The upgradeable loader's program-data address of `program_id`.
pub fn program_data(program_id: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[program_id.as_ref()], &solana_sdk::bpf_loader_upgradeable::ID).0
}

/// The buffer recording a quote's precompile-checked signatures for one registration, funded by
/// `payer` (who must then pay for `register_tee`).
pub fn quote_buffer(tee_pubkey: &Pubkey, nonce: u64, payer: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(
        &[attestation_verifier::QUOTE_SEED, tee_pubkey.as_ref(), &nonce.to_le_bytes(), payer.as_ref()],
        &attestation_verifier::ID,
    )
    .0
}

pub fn tee_entry(tee_pubkey: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[tee_registry::TEE_ENTRY_SEED, tee_pubkey.as_ref()], &tee_registry::ID).0
}

/// The app `app_id` in `creator`'s namespace (the creator is the app's first publisher; the
/// address keeps naming the creator after a publisher rotation).
pub fn app(creator: &Pubkey, app_id: &[u8; 32]) -> Pubkey {
    Pubkey::find_program_address(&[app_roots::APP_SEED, creator.as_ref(), app_id], &app_roots::ID).0
}

pub fn shard(app: &Pubkey, shard_id: u16) -> Pubkey {
    Pubkey::find_program_address(
        &[app_roots::SHARD_SEED, app.as_ref(), &shard_id.to_le_bytes()],
        &app_roots::ID,
    )
    .0
}

pub fn stake_terms(app: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[storage_stake::TERMS_SEED, app.as_ref()], &storage_stake::ID).0
}

pub fn provider_stake(app: &Pubkey, provider: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(
        &[storage_stake::STAKE_SEED, app.as_ref(), provider.as_ref()],
        &storage_stake::ID,
    )
    .0
}

pub fn stake_vault(stake: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[storage_stake::VAULT_SEED, stake.as_ref()], &storage_stake::ID).0
}

pub fn stake_escrow(stake: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[storage_stake::ESCROW_SEED, stake.as_ref()], &storage_stake::ID).0
}

/// Record of the app's history tree number `index` (0 = the tree `create_app` made).
pub fn history_tree(app: &Pubkey, index: u32) -> Pubkey {
    Pubkey::find_program_address(
        &[app_roots::HISTORY_TREE_SEED, app.as_ref(), &index.to_le_bytes()],
        &app_roots::ID,
    )
    .0
}
