use anchor_lang::prelude::*;

use crate::error::AppRootsError;
use crate::events::AppClosed;
use crate::state::*;

#[derive(Accounts)]
pub struct CloseApp<'info> {
    #[account(mut)]
    pub publisher: Signer<'info>,
    #[account(
        mut,
        close = publisher,
        seeds = [APP_SEED, app.app_id.as_ref()],
        bump = app.bump,
        has_one = publisher @ AppRootsError::NotPublisher,
    )]
    pub app: Account<'info, App>,
}

/// Closes every shard account (remaining accounts, writable) and the app in one instruction, so no
/// shard update can land in between. The history tree stays: spl-account-compression only closes
/// empty trees, and the history remains provable after the app is gone.
pub fn handle_close_app<'info>(ctx: Context<'_, '_, 'info, 'info, CloseApp<'info>>) -> Result<()> {
    let app_key = ctx.accounts.app.key();
    let shards = ctx.remaining_accounts;
    require!(shards.len() == ctx.accounts.app.open_shards as usize, AppRootsError::ShardAccountsMismatch);
    for (i, info) in shards.iter().enumerate() {
        require!(
            !shards[..i].iter().any(|other| other.key == info.key),
            AppRootsError::ShardAccountsMismatch
        );
    }
    let publisher = ctx.accounts.publisher.to_account_info();
    for info in shards {
        let shard: Account<'info, Shard> = Account::try_from(info)?;
        let (expected, _) = Pubkey::find_program_address(
            &[SHARD_SEED, app_key.as_ref(), &shard.shard_id.to_le_bytes()],
            &crate::ID,
        );
        require!(info.key() == expected && shard.app == app_key, AppRootsError::ShardAccountsMismatch);
        shard.close(publisher.clone())?;
    }
    emit!(AppClosed {
        app: app_key,
        shards_closed: shards.len() as u16,
        history_len: ctx.accounts.app.history_len
    });
    Ok(())
}
