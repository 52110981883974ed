pub mod answer_challenge;
pub mod bind_tee;
pub mod init_terms;
pub mod open_challenge;
pub mod open_stake;
pub mod payment;
pub mod propose_terms;
pub mod retrieval;
pub mod slash;
pub mod stake;
pub mod unstake;

pub use answer_challenge::*;
pub use bind_tee::*;
pub use init_terms::*;
pub use open_challenge::*;
pub use open_stake::*;
pub use payment::*;
pub use propose_terms::*;
pub use retrieval::*;
pub use slash::*;
pub use stake::*;
pub use unstake::*;

use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, Mint, TokenAccount, TokenInterface, TransferChecked};
use app_roots::{AppPolicy, Shard};
use tee_registry::TeeEntry;

use crate::error::StakeError;
use crate::state::*;

/// The key must be bound to the stake, and pass app roots' own signer check (registered,
/// unrevoked, unexpired with the policy's margin, measurement and identity allowed).
pub(crate) fn require_serving_tee(
    stake: &ProviderStake,
    tee: &Pubkey,
    entry: &TeeEntry,
    policy: &AppPolicy,
    now: i64,
) -> Result<()> {
    require!(stake.tee_keys.contains(tee), StakeError::TeeNotBound);
    app_roots::check_signer(entry, policy, now)
}

/// Transfers `amount` out of a token account whose authority is the stake PDA.
pub(crate) fn transfer_from_stake<'info>(
    token_program: &Interface<'info, TokenInterface>,
    from: &InterfaceAccount<'info, TokenAccount>,
    to: &InterfaceAccount<'info, TokenAccount>,
    mint: &InterfaceAccount<'info, Mint>,
    stake: &Account<'info, ProviderStake>,
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    let seeds: &[&[u8]] = &[STAKE_SEED, stake.app.as_ref(), stake.provider.as_ref(), &[stake.bump]];
    token_interface::transfer_checked(
        CpiContext::new_with_signer(
            token_program.to_account_info(),
            TransferChecked {
                from: from.to_account_info(),
                mint: mint.to_account_info(),
                to: to.to_account_info(),
                authority: stake.to_account_info(),
            },
            &[seeds],
        ),
        amount,
        mint.decimals,
    )
}

/// Moves lamports held by the stake account (bonds) to `to`.
pub(crate) fn pay_lamports(stake: &AccountInfo, to: &AccountInfo, lamports: u64) -> Result<()> {
    if lamports == 0 {
        return Ok(());
    }
    let from_balance = stake.lamports().checked_sub(lamports).ok_or(StakeError::Overflow)?;
    let to_balance = to.lamports().checked_add(lamports).ok_or(StakeError::Overflow)?;
    **stake.try_borrow_mut_lamports()? = from_balance;
    **to.try_borrow_mut_lamports()? = to_balance;
    Ok(())
}

/// Every shard of `app`, from the remaining accounts: owned by app roots, of type `Shard`, of this
/// app, one per shard id in order.
pub(crate) fn load_shards(infos: &[AccountInfo], app: &Pubkey, shard_count: u16) -> Result<Vec<Shard>> {
    require!(infos.len() == shard_count as usize, StakeError::ShardAccountsMismatch);
    infos
        .iter()
        .enumerate()
        .map(|(i, info)| {
            require!(info.owner == &app_roots::ID, StakeError::ShardAccountsMismatch);
            let data = info.try_borrow_data()?;
            let shard = Shard::try_deserialize(&mut &data[..])?;
            require!(shard.app == *app && shard.shard_id as usize == i, StakeError::ShardAccountsMismatch);
            Ok(shard)
        })
        .collect()
}
