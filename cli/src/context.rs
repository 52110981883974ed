//! What every command needs: the RPC client, the signing keypair (resolved the Solana CLI's way),
//! the output format, confirmation prompts, and sending transactions with on-chain errors named.
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::ValueEnum;
use serde_json::Value;
use solana_rpc_client::rpc_client::RpcClient;
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use solana_sdk::signature::{read_keypair_file, Keypair, Signature, Signer};
use solana_sdk::sysvar;
use solana_sdk::transaction::Transaction;

use crate::args::GlobalArgs;
use crate::errors::{self, CliError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Display,
    /// One JSON document on stdout.
    Json,
}

pub struct Context {
    pub rpc: RpcClient,
    pub url: String,
    keypair_path: PathBuf,
    pub output: OutputFormat,
    yes: bool,
}

/// The two settings the CLI takes from the Solana CLI's config file.
#[derive(Default, Debug)]
struct SolanaConfig {
    json_rpc_url: Option<String>,
    keypair_path: Option<String>,
}

impl SolanaConfig {
    /// The Solana CLI writes a flat YAML map; only `key: value` lines matter here.
    fn read(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let mut config = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else { continue };
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
            if value.is_empty() {
                continue;
            }
            match key.trim() {
                "json_rpc_url" => config.json_rpc_url = Some(value),
                "keypair_path" => config.keypair_path = Some(value),
                _ => {}
            }
        }
        Ok(config)
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

/// The Solana CLI's monikers, or an http(s) URL as given.
pub fn resolve_url(url: &str) -> anyhow::Result<String> {
    Ok(match url {
        "localhost" | "l" => "http://127.0.0.1:8899".into(),
        "devnet" | "d" => "https://api.devnet.solana.com".into(),
        "testnet" | "t" => "https://api.testnet.solana.com".into(),
        "mainnet-beta" | "m" => "https://api.mainnet-beta.solana.com".into(),
        url if url.starts_with("http://") || url.starts_with("https://") => url.into(),
        other => {
            bail!("--url {other:?}: expected localhost, devnet, testnet, mainnet-beta or an http(s) URL")
        }
    })
}

impl Context {
    pub fn new(args: &GlobalArgs) -> anyhow::Result<Self> {
        let config_path =
            args.config_file.clone().unwrap_or_else(|| home().join(".config/solana/cli/config.yml"));
        let config = SolanaConfig::read(&config_path)?;
        let url = match (&args.url, &config.json_rpc_url) {
            (Some(url), _) | (None, Some(url)) => resolve_url(url)?,
            (None, None) => resolve_url("localhost")?,
        };
        let keypair_path = args
            .keypair
            .clone()
            .or_else(|| config.keypair_path.map(PathBuf::from))
            .unwrap_or_else(|| home().join(".config/solana/id.json"));
        Ok(Context {
            rpc: RpcClient::new_with_commitment(url.clone(), CommitmentConfig::confirmed()),
            url,
            keypair_path,
            output: args.output,
            yes: args.yes,
        })
    }

    /// The signing keypair; read when a command needs it (read-only commands don't).
    pub fn signer(&self) -> anyhow::Result<Keypair> {
        read_keypair_file(&self.keypair_path).map_err(|err| {
            anyhow::anyhow!(
                "reading keypair {}: {err} (pass --keypair, or set keypair_path in the Solana CLI config)",
                self.keypair_path.display()
            )
        })
    }

    /// The keypair's public key, for commands that default to "me".
    pub fn me(&self) -> anyhow::Result<Pubkey> {
        Ok(self.signer()?.pubkey())
    }

    pub fn account(&self, address: &Pubkey) -> anyhow::Result<Option<Account>> {
        let response = self
            .rpc
            .get_account_with_commitment(address, self.rpc.commitment())
            .with_context(|| format!("fetching account {address} from {}", self.url))?;
        Ok(response.value)
    }

    /// Accounts in batches of 100 (the RPC's limit), in order.
    pub fn accounts(&self, addresses: &[Pubkey]) -> anyhow::Result<Vec<Option<Account>>> {
        let mut out = Vec::with_capacity(addresses.len());
        for chunk in addresses.chunks(100) {
            let response = self
                .rpc
                .get_multiple_accounts_with_commitment(chunk, self.rpc.commitment())
                .with_context(|| format!("fetching accounts from {}", self.url))?;
            out.extend(response.value);
        }
        Ok(out)
    }

    pub fn require_account(&self, address: &Pubkey, what: &str) -> anyhow::Result<Account> {
        self.account(address)?
            .ok_or_else(|| CliError::NotFound { what: what.to_string(), address: *address }.into())
    }

    /// The cluster's clock (what deadlines are compared with on-chain).
    pub fn clock(&self) -> anyhow::Result<Clock> {
        let account = self.require_account(&sysvar::clock::ID, "the Clock sysvar")?;
        solana_sdk::account::from_account(&account).context("decoding the Clock sysvar")
    }

    pub fn rent(&self) -> anyhow::Result<Rent> {
        let account = self.require_account(&sysvar::rent::ID, "the Rent sysvar")?;
        solana_sdk::account::from_account(&account).context("decoding the Rent sysvar")
    }

    /// Asks on stderr and reads a line from stdin; anything but y/yes aborts (as does EOF).
    pub fn confirm(&self, question: &str) -> anyhow::Result<()> {
        if self.yes {
            return Ok(());
        }
        eprint!("{question} [y/N] ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer)? == 0 {
            // End of input: end the prompt's line before the abort message.
            eprintln!();
        }
        match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Ok(()),
            _ => Err(CliError::Aborted.into()),
        }
    }

    /// Prints a command's result: the JSON document, or the text.
    pub fn emit(&self, json: Value, text: impl AsRef<str>) {
        match self.output {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default()),
            OutputFormat::Display => println!("{}", text.as_ref().trim_end()),
        }
    }

    /// Signs with the keypair (fee payer) and `extra`, checks the size limit, sends and confirms;
    /// a failed instruction comes back as [`CliError::Program`] naming the error.
    pub fn send(
        &self,
        payer: &Keypair,
        ixs: &[Instruction],
        extra: &[&Keypair],
    ) -> anyhow::Result<Signature> {
        let mut signers: Vec<&Keypair> = vec![payer];
        signers.extend(extra.iter().copied());
        let blockhash = self.rpc.get_latest_blockhash().with_context(|| format!("reaching {}", self.url))?;
        let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &signers, blockhash);
        let size = ironroot_sdk::transaction_size(&tx);
        if size > ironroot_sdk::PACKET_DATA_SIZE {
            return Err(CliError::TooLarge { size, limit: ironroot_sdk::PACKET_DATA_SIZE }.into());
        }
        self.rpc.send_and_confirm_transaction(&tx).map_err(|err| errors::explain(err, ixs))
    }

    /// Sends `ixs` in as few transactions as fit the size limit, in order (each instruction stands
    /// alone, e.g. one shard account each).
    pub fn send_batched(&self, payer: &Keypair, ixs: Vec<Instruction>) -> anyhow::Result<Vec<Signature>> {
        let mut signatures = Vec::new();
        let mut batch: Vec<Instruction> = Vec::new();
        for ix in ixs {
            batch.push(ix);
            let probe = Transaction::new_with_payer(&batch, Some(&payer.pubkey()));
            // An unsigned transaction holds placeholder signatures: its size is the signed size.
            let signed_size = ironroot_sdk::transaction_size(&probe);
            if signed_size > ironroot_sdk::PACKET_DATA_SIZE && batch.len() > 1 {
                let last = batch.pop().expect("non-empty");
                signatures.push(self.send(payer, &batch, &[])?);
                batch = vec![last];
            }
        }
        if !batch.is_empty() {
            signatures.push(self.send(payer, &batch, &[])?);
        }
        Ok(signatures)
    }
}
