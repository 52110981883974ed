//! What an app's root history costs on-chain, per tree shape: the `update_shard` and
//! `rotate_history` transaction sizes, rent, capacity, and hash operations per update. Native programs are not metered, so hashing is counted
//! (derived from spl-concurrent-merkle-tree 1.0's `append`), never turned into compute units.
use std::fmt::Write;

use app_roots::{UpdateShardArgs, ALLOWED_TREE_SHAPES};
use ironroot_sdk::app_roots::{self as roots, creation_cost};
use ironroot_sdk::history::onchain_tree_root;
use ironroot_sdk::transaction_size;
use solana_program_test::BanksClientError;
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::signature::{Keypair, Signer};

use crate::dev::DevTrust;

/// Shapes the issue asked about that spl-account-compression 1.0 cannot build.
pub const UNSUPPORTED_SHAPES: [(u32, u32); 1] = [(17, 256)];

#[derive(Clone, Debug, PartialEq)]
pub struct ShapeCost {
    pub max_depth: u32,
    pub max_buffer_size: u32,
    pub update_tx_bytes: usize,
    /// `create_account` + `rotate_history`, cranked by a non-publisher (fee payer + cranker +
    /// new tree signing).
    pub rotate_tx_bytes: usize,
    /// Updates one tree holds.
    pub capacity: u64,
    /// Days one tree lasts if a single shard commits every [`DEFAULT_COMMIT_INTERVAL_MS`] (divide
    /// by the number of shards committing that often).
    pub days_per_tree_one_shard: f64,
    /// Rent of one rotation: the new tree plus its `HistoryTree` record.
    pub rotation_sol: f64,
    pub tree_bytes: usize,
    pub tree_sol: f64,
    pub app_sol: f64,
    pub shard_sol: f64,
    pub keccak_per_update_avg: f64,
    pub keccak_per_update_worst: u64,
    pub sha256_per_update: u64,
}

/// keccak-256 calls of one `append` at leaf `index` >= 1 in a tree of depth `depth`: with
/// `k = trailing_zeros(index)`, levels below `k` hash twice plus an uncached empty node of height
/// `i` (i hashes), level `k` and those above once each: `depth + k + k(k-1)/2`.
pub fn append_keccak_calls(depth: u32, index: u64) -> u64 {
    let k = index.trailing_zeros().min(depth - 1) as u64;
    depth as u64 + k + k * k.saturating_sub(1) / 2
}

/// Per update: the history leaf (1 keccak) plus the append. SHA-256: the PDA checks of the TEE
/// entry, app and shard (bumps stored, one `create_program_address` each) and the runtime's check
/// of the app PDA signing the append CPI.
fn keccak_per_update(depth: u32, index: u64) -> u64 {
    1 + append_keccak_calls(depth, index)
}

fn sol(lamports: u64) -> f64 {
    lamports as f64 / LAMPORTS_PER_SOL as f64
}

const SHA256_PER_UPDATE: u64 = 4;
/// The keeper's default commit interval (`commit_interval_ms` in keeper/src/config.rs): a busy
/// shard commits at most this often.
pub const DEFAULT_COMMIT_INTERVAL_MS: u64 = 500;
const AVERAGE_OVER: u64 = 1024;

/// Creates one app per allowed shape on a fresh bank, applies a first update to each, checks it
/// changed the tree root, and measures.
pub async fn measure() -> Result<Vec<ShapeCost>, BanksClientError> {
    let trust = DevTrust::new(1, 1);
    let mut bank = trust.start_bank().await?;
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await?;
    let rent = bank.rent().await;
    let mut costs = Vec::new();
    for (i, &(depth, buffer)) in ALLOWED_TREE_SHAPES.iter().enumerate() {
        let app = trust.create_app(&mut bank, [i as u8 + 1; 32], 1, (depth, buffer)).await?;
        let before =
            onchain_tree_root(&bank.account(&app.tree).await.expect("tree").data).expect("tree root");
        // A rotation as any cranker would send it, measured and not sent (the cranker could only
        // send it once the tree is nearly full).
        let (cranker, new_tree) = (Keypair::new(), Keypair::new());
        let rotate = roots::rotate_history(
            &cranker.pubkey(),
            &app.address,
            &new_tree.pubkey(),
            1,
            depth,
            buffer,
            &rent,
        )
        .expect("allowed shape");
        let rotate_tx_bytes = transaction_size(&bank.transaction(&rotate, &[&cranker, &new_tree]).await);
        let args = UpdateShardArgs {
            shard_id: 0,
            prev_root: [0; 32],
            new_root: [0xAB; 32],
            new_seq: 1,
            manifest_cid: vec![0x01, 0x55, 0x12, 0x20].into_iter().chain([7u8; 32]).collect(),
        };
        let ix = roots::update_shard(&tee.pubkey(), &app.address, &app.tree, args);
        let tx = bank.transaction(&[ix], &[&tee]).await;
        let update_tx_bytes = transaction_size(&tx);
        bank.send(tx).await?;
        let after = onchain_tree_root(&bank.account(&app.tree).await.expect("tree").data).expect("tree root");
        assert_ne!(before, after, "the append CPI must change the tree root");

        let cost = creation_cost(&rent, depth, buffer, 1).expect("allowed shape");
        let total: u64 = (1..=AVERAGE_OVER).map(|index| keccak_per_update(depth, index)).sum();
        costs.push(ShapeCost {
            max_depth: depth,
            max_buffer_size: buffer,
            update_tx_bytes,
            rotate_tx_bytes,
            capacity: app_roots::tree_capacity(depth),
            days_per_tree_one_shard: app_roots::tree_capacity(depth) as f64
                * DEFAULT_COMMIT_INTERVAL_MS as f64
                / 86_400_000.0,
            rotation_sol: sol(cost.rotation_lamports()),
            tree_bytes: cost.tree_bytes,
            tree_sol: sol(cost.tree_lamports),
            app_sol: sol(cost.app_lamports),
            shard_sol: sol(cost.shard_lamports_each),
            keccak_per_update_avg: total as f64 / AVERAGE_OVER as f64,
            keccak_per_update_worst: keccak_per_update(depth, 1 << (depth - 1)),
            sha256_per_update: SHA256_PER_UPDATE,
        });
    }
    Ok(costs)
}

pub fn render_markdown(costs: &[ShapeCost]) -> String {
    let mut out = String::from(
        "| depth | buffer | update_shard tx (bytes) | rotate_history tx (bytes) | updates per tree | days per tree (1 shard every 500 ms) | tree account (bytes) | tree rent (SOL) | rotation rent (SOL) | app rent (SOL) | shard rent (SOL) | keccak / update (avg of first 1024) | keccak / update (worst) | sha256 / update |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in costs {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.2} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.2} | {} | {} |",
            c.max_depth,
            c.max_buffer_size,
            c.update_tx_bytes,
            c.rotate_tx_bytes,
            c.capacity,
            c.days_per_tree_one_shard,
            c.tree_bytes,
            c.tree_sol,
            c.rotation_sol,
            c.app_sol,
            c.shard_sol,
            c.keccak_per_update_avg,
            c.keccak_per_update_worst,
            c.sha256_per_update
        );
    }
    for (depth, buffer) in UNSUPPORTED_SHAPES {
        let _ = writeln!(
            out,
            "| {depth} | {buffer} | not supported by spl-account-compression 1.0 | | | | | | | | | | | |"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::append_keccak_calls;

    #[test]
    fn append_hashing_grows_with_the_carried_levels() {
        // Odd indices carry nothing: one hash per level.
        assert_eq!(append_keccak_calls(14, 1), 14);
        assert_eq!(append_keccak_calls(14, 3), 14);
        // Index 4 = 0b100: two levels below the intersection, each with an uncached empty node.
        assert_eq!(append_keccak_calls(14, 4), 14 + 2 + 1);
        assert_eq!(append_keccak_calls(20, 1 << 19), 20 + 19 + 19 * 18 / 2);
    }
}
