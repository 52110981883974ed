//! Writes the app-roots cost table (transaction size, rent, hash operations per tree shape) to a
//! results file: `ironroot-costs [PATH]`, default `target/ironroot-results/app_roots_costs.md`.
use std::path::PathBuf;

use anyhow::{ensure, Context};
use ironroot_bank::costs::{measure, render_markdown};
use ironroot_sdk::PACKET_DATA_SIZE;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/ironroot-results/app_roots_costs.md"));
    let costs = measure().await.context("measuring on the in-process bank")?;
    for c in &costs {
        ensure!(c.update_tx_bytes <= PACKET_DATA_SIZE, "update_shard is {} bytes", c.update_tx_bytes);
        ensure!(c.rotate_tx_bytes <= PACKET_DATA_SIZE, "rotate_history is {} bytes", c.rotate_tx_bytes);
    }
    let table = render_markdown(&costs);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    println!("\n{table}\nwritten to {}", path.display());
    Ok(())
}
