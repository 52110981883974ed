//! CPIs into spl-account-compression that the generated helpers get wrong or that several
//! instructions share.
use anchor_lang::prelude::*;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use anchor_lang::solana_program::program::invoke_signed;
use anchor_lang::InstructionData;

use crate::error::AppRootsError;
use crate::state::{tree_account_size, ALLOWED_TREE_SHAPES};

/// Checks the shape and the account size, then initialises `tree` with the app PDA as authority.
/// Built by hand: spl-account-compression 1.0's generated `cpi::init_empty_merkle_tree` passes
/// the tree read-only, so the tree would never be written.
pub fn init_history_tree<'info>(
    tree: &AccountInfo<'info>,
    app: &AccountInfo<'info>,
    noop: &AccountInfo<'info>,
    compression: &AccountInfo<'info>,
    app_seeds: &[&[u8]],
    max_depth: u32,
    max_buffer_size: u32,
) -> Result<()> {
    require!(ALLOWED_TREE_SHAPES.contains(&(max_depth, max_buffer_size)), AppRootsError::TreeShapeNotAllowed);
    require!(
        tree.data_len() == tree_account_size(max_depth, max_buffer_size),
        AppRootsError::TreeSizeMismatch
    );
    let init = Instruction {
        program_id: spl_account_compression::ID,
        accounts: vec![
            AccountMeta::new(tree.key(), false),
            AccountMeta::new_readonly(app.key(), true),
            AccountMeta::new_readonly(noop.key(), false),
        ],
        data: spl_account_compression::instruction::InitEmptyMerkleTree { max_depth, max_buffer_size }.data(),
    };
    invoke_signed(&init, &[tree.clone(), app.clone(), noop.clone(), compression.clone()], &[app_seeds])?;
    Ok(())
}
