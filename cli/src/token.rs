//! The few SPL Token facts the CLI needs: associated token accounts (derived, created
//! idempotently) and a token account's balance. Layouts are the SPL Token / Token-2022 base layout.
use solana_sdk::account::Account;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::{pubkey, system_program};

pub const ASSOCIATED_TOKEN_PROGRAM: Pubkey = pubkey!("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");

/// The associated token account of `owner` for `mint` under `token_program`.
pub fn associated(owner: &Pubkey, mint: &Pubkey, token_program: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(
        &[owner.as_ref(), token_program.as_ref(), mint.as_ref()],
        &ASSOCIATED_TOKEN_PROGRAM,
    )
    .0
}

/// `CreateIdempotent` of the associated token account program: a no-op if the account exists.
pub fn create_associated_idempotent(
    payer: &Pubkey,
    owner: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
) -> Instruction {
    Instruction {
        program_id: ASSOCIATED_TOKEN_PROGRAM,
        accounts: vec![
            AccountMeta::new(*payer, true),
            AccountMeta::new(associated(owner, mint, token_program), false),
            AccountMeta::new_readonly(*owner, false),
            AccountMeta::new_readonly(*mint, false),
            AccountMeta::new_readonly(system_program::ID, false),
            AccountMeta::new_readonly(*token_program, false),
        ],
        data: vec![1],
    }
}

/// The balance of a token account (mint 0..32, owner 32..64, amount 64..72), if `account` is one
/// of `token_program`'s.
pub fn balance(account: Option<&Account>, token_program: &Pubkey) -> Option<u64> {
    let account = account?;
    if account.owner != *token_program {
        return None;
    }
    account.data.get(64..72).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
}
