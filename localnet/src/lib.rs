//! A Solana JSON-RPC + WebSocket localnet for Ironroot: surfpool-core's RPC servers over a LiteSVM
//! instance that runs Ironroot's programs, spl-account-compression and spl-noop natively (their
//! real entrypoints as builtins) and SPL Token as the SBF binary LiteSVM ships. Offline (no
//! mainnet fork), airdrops through `requestAirdrop`.
//!
//! Signatures: surfpool 0.10 verifies every transaction it executes (`sendTransaction`, with or
//! without preflight) whatever LiteSVM's own flag says; `simulateTransaction` verifies when the
//! client asks (`sigVerify`), as a validator does. LiteSVM's flag stays off because turning it on
//! would also reject unsigned simulations and break surfpool's per-instruction profiling, which
//! simulates unsigned partial transactions.
pub mod dev_app;
pub mod programs;
pub mod state;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::signature::Signer;
use solana_sdk::system_program;
use surfpool_core::surfnet::svm::SurfnetSvm;
use surfpool_core::surfnet::FINALIZATION_SLOT_THRESHOLD;
use surfpool_types::{
    BlockProductionMode, RpcConfig, SimnetCommand, SimnetConfig, SimnetEvent, SurfpoolConfig,
};
use tracing::{debug, error, info, warn};

pub use state::{LocalnetConfig, StateDir, CONFIG_FILE};

/// Only loopback: this is a development chain with well-known keys.
pub const HOST: &str = "127.0.0.1";
/// Lamports the governance key starts with (it pays for the verifier config).
pub const GOVERNANCE_FUNDS: u64 = 1_000 * LAMPORTS_PER_SOL;
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    #[error("state directory {path}: {source}")]
    StateDir { path: PathBuf, source: std::io::Error },
    #[error("keypair file {path}: {message}")]
    Keypair { path: PathBuf, message: String },
    #[error("writing {path}: {source}")]
    Config { path: PathBuf, source: std::io::Error },
    #[error("serialising the config: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("setting up the SVM: {0}")]
    Svm(String),
    #[error("starting a runtime: {0}")]
    Runtime(std::io::Error),
    #[error("spawning the localnet thread: {0}")]
    Spawn(std::io::Error),
    #[error("surfpool did not start: {0}")]
    Startup(String),
    #[error("the localnet was not serving within {0:?}")]
    StartupTimeout(Duration),
    #[error("the localnet run loop failed: {0}")]
    Runloop(String),
    #[error("the localnet run loop panicked")]
    Panicked,
}

/// How to run the localnet.
#[derive(Clone, Debug)]
pub struct Options {
    pub state_dir: PathBuf,
    pub rpc_port: u16,
    pub ws_port: u16,
    /// Block time; a blockhash stays valid for 75 blocks.
    pub slot_time_ms: u64,
}

impl Options {
    pub fn rpc_url(&self) -> String {
        format!("http://{HOST}:{}", self.rpc_port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{HOST}:{}", self.ws_port)
    }
}

/// A running localnet. Dropping it does not stop it; call [`Localnet::stop`].
pub struct Localnet {
    config: LocalnetConfig,
    config_path: PathBuf,
    commands: Sender<SimnetCommand>,
    runloop: JoinHandle<Result<(), LocalnetError>>,
    exited: Option<tokio::sync::oneshot::Receiver<()>>,
    /// Set by `stop`, so the abort event our own `Terminate` causes is not logged as an error.
    stopping: Arc<AtomicBool>,
}

impl Localnet {
    /// Starts the localnet and returns once its HTTP and WebSocket servers accept connections;
    /// the config file is written by then. Blocking: call it outside an async context (or from
    /// `spawn_blocking`).
    pub fn start(options: &Options) -> Result<Localnet, LocalnetError> {
        let state = StateDir::open(&options.state_dir)?;
        let (mut surfnet, events, geyser_events) = SurfnetSvm::new();
        programs::add_builtins(&mut surfnet.inner);
        let governance = state.governance.keypair.pubkey();
        let program_data = ironroot_sdk::pda::program_data(&attestation_verifier::ID);
        surfnet
            .set_account(&program_data, ironroot_bank::programs::program_data_account(&governance))
            .map_err(|err| LocalnetError::Svm(err.to_string()))?;
        surfnet
            .set_account(&governance, Account::new(GOVERNANCE_FUNDS, 0, &system_program::ID))
            .map_err(|err| LocalnetError::Svm(err.to_string()))?;

        let config = LocalnetConfig {
            rpc_url: options.rpc_url(),
            ws_url: options.ws_url(),
            genesis_hash: surfnet.genesis_config.hash().to_string(),
            programs: programs::program_ids()
                .into_iter()
                .map(|(name, id)| (name.to_string(), id.to_string()))
                .collect(),
            verifier_program_data: program_data.to_string(),
            governance: (&state.governance).into(),
            attester: (&state.attester).into(),
        };
        let surfpool_config = SurfpoolConfig {
            simnets: vec![SimnetConfig {
                offline_mode: true,
                remote_rpc_url: None,
                slot_time: options.slot_time_ms,
                block_production_mode: BlockProductionMode::Clock,
                airdrop_addresses: vec![],
                airdrop_token_amount: 0,
                expiry: None,
            }],
            rpc: RpcConfig {
                bind_host: HOST.to_string(),
                bind_port: options.rpc_port,
                ws_port: options.ws_port,
            },
            ..SurfpoolConfig::default()
        };

        let (startup_tx, startup_rx) = mpsc::channel();
        let (exited_tx, exited_rx) = tokio::sync::oneshot::channel();
        let (commands, commands_rx) = crossbeam_channel::unbounded();
        // surfpool 0.10.4's getSlot computes `slot - 31` for finalized commitment, which overflows
        // (a panic in its HTTP worker) during the first 31 slots: start the chain at slot 31.
        // Queued before the run loop starts, so it is handled before any transaction.
        let start_clock =
            Clock { slot: FINALIZATION_SLOT_THRESHOLD, unix_timestamp: unix_now(), ..Clock::default() };
        commands
            .send(SimnetCommand::UpdateInternalClock(start_clock))
            .map_err(|err| LocalnetError::Svm(err.to_string()))?;
        let stopping = Arc::new(AtomicBool::new(false));
        spawn_event_logger(events, startup_tx.clone(), stopping.clone())?;
        let runloop = {
            let commands = commands.clone();
            thread::Builder::new()
                .name("ironroot-localnet".into())
                .spawn(move || {
                    let result = run(surfnet, surfpool_config, commands, commands_rx, geyser_events);
                    if let Err(err) = &result {
                        // Before readiness this is a start-up failure; after it, an exit.
                        let _ = startup_tx.send(Err(err.to_string()));
                    }
                    let _ = exited_tx.send(());
                    result
                })
                .map_err(LocalnetError::Spawn)?
        };

        if let Err(err) = wait_until_serving(&startup_rx, options) {
            stopping.store(true, Ordering::Relaxed);
            let _ = commands.send(SimnetCommand::Terminate(None));
            return Err(err);
        }
        let config_path = state.write_config(&config)?;
        info!(rpc = %config.rpc_url, ws = %config.ws_url, config = %config_path.display(), "localnet serving");
        Ok(Localnet { config, config_path, commands, runloop, exited: Some(exited_rx), stopping })
    }

    pub fn config(&self) -> &LocalnetConfig {
        &self.config
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Resolves if the run loop ends by itself (it only does on an error); pending forever after
    /// it resolved once.
    pub async fn exited(&mut self) {
        match self.exited.take() {
            Some(exited) => {
                let _ = exited.await;
            }
            None => std::future::pending().await,
        }
    }

    /// Stops block production and waits for the run loop to end. surfpool 0.10 keeps no handle
    /// on its HTTP/WebSocket server threads, so those stay bound until the process exits.
    pub fn stop(self) -> Result<(), LocalnetError> {
        self.stopping.store(true, Ordering::Relaxed);
        // Fails only if the run loop already ended; its result is below either way.
        let _ = self.commands.send(SimnetCommand::Terminate(None));
        self.runloop.join().map_err(|_| LocalnetError::Panicked)?
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// Waits for surfpool's readiness event, then for both servers to accept connections (surfpool
/// reports ready once it has spawned their threads, not once they listen).
fn wait_until_serving(
    startup: &mpsc::Receiver<Result<(), String>>,
    options: &Options,
) -> Result<(), LocalnetError> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    match startup.recv_timeout(STARTUP_TIMEOUT) {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return Err(LocalnetError::Startup(message)),
        Err(_) => return Err(LocalnetError::StartupTimeout(STARTUP_TIMEOUT)),
    }
    for port in [options.rpc_port, options.ws_port] {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                return Err(LocalnetError::StartupTimeout(STARTUP_TIMEOUT));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// The surfnet run loop on this thread: surfpool's loop blocks its executor thread on channel
/// receives, so it gets a runtime of its own.
fn run(
    surfnet: SurfnetSvm,
    config: SurfpoolConfig,
    commands: Sender<SimnetCommand>,
    commands_rx: Receiver<SimnetCommand>,
    geyser_events: Receiver<surfpool_core::surfnet::GeyserEvent>,
) -> Result<(), LocalnetError> {
    programs::install_syscall_stubs()?;
    let runtime = tokio::runtime::Runtime::new().map_err(LocalnetError::Runtime)?;
    // Subgraph commands only matter with surfpool's indexing plugins, which are not loaded.
    let (subgraph_commands, _) = crossbeam_channel::unbounded();
    runtime
        .block_on(surfpool_core::start_local_surfnet(
            surfnet,
            config,
            subgraph_commands,
            commands,
            commands_rx,
            geyser_events,
        ))
        .map_err(|err| LocalnetError::Runloop(err.to_string()))
}

/// Drains surfpool's event channel into `tracing` (surfpool blocks when that bounded channel is
/// full) and reports readiness or an abort to `start`.
fn spawn_event_logger(
    events: Receiver<SimnetEvent>,
    startup: mpsc::Sender<Result<(), String>>,
    stopping: Arc<AtomicBool>,
) -> Result<(), LocalnetError> {
    thread::Builder::new()
        .name("ironroot-localnet-events".into())
        .spawn(move || {
            for event in events {
                match event {
                    SimnetEvent::Ready => {
                        let _ = startup.send(Ok(()));
                    }
                    // surfpool reports the end of its loop after a `Terminate` as an abort.
                    SimnetEvent::Aborted(message) if stopping.load(Ordering::Relaxed) => {
                        debug!(%message, "surfpool run loop ended")
                    }
                    SimnetEvent::Aborted(message) => {
                        error!(%message, "surfpool aborted");
                        let _ = startup.send(Err(message));
                    }
                    SimnetEvent::Shutdown => info!("surfpool server shut down"),
                    SimnetEvent::ErrorLog(_, message) => error!(target: "surfpool", "{message}"),
                    SimnetEvent::WarnLog(_, message) => warn!(target: "surfpool", "{message}"),
                    SimnetEvent::InfoLog(_, message) | SimnetEvent::DebugLog(_, message) => {
                        debug!(target: "surfpool", "{message}")
                    }
                    SimnetEvent::TransactionProcessed(_, meta, err) => {
                        debug!(target: "surfpool", signature = %meta.signature, error = ?err, "transaction processed")
                    }
                    other => debug!(target: "surfpool", event = ?other),
                }
            }
        })
        .map_err(LocalnetError::Spawn)?;
    Ok(())
}
