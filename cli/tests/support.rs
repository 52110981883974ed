//! A localnet per test, funded keypair files, the CLI as a process, and chain set-up the CLI does
//! not do itself (TEE registration, signed shard updates, an SPL mint): through the Rust SDK.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use attestation_verifier::TcbStatus;
use ironroot_localnet::{Localnet, LocalnetConfig, Options};
use ironroot_sdk::attestation::{self, StatementFields};
use ironroot_sdk::{app_roots as roots, pda, verifier};
use serde_json::Value;
use solana_rpc_client::rpc_client::RpcClient;
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::program_pack::Pack;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{read_keypair_file, write_keypair_file, Keypair, Signer};
use solana_sdk::transaction::Transaction;
use solana_sdk::{pubkey, system_instruction, system_program, sysvar};
use tempfile::TempDir;

pub const MEASUREMENT: [u8; 32] = [0x11; 32];
pub const DSTACK_APP_ID: [u8; 32] = [0x22; 32];
pub const COMPOSE_HASH: [u8; 32] = [0x33; 32];

/// `MEASUREMENT:APP_ID:COMPOSE_HASH` for `--allow`.
pub fn allow_arg() -> String {
    format!("{}:{}:{}", hex::encode(MEASUREMENT), hex::encode(DSTACK_APP_ID), hex::encode(COMPOSE_HASH))
}

pub struct Net {
    pub dir: TempDir,
    localnet: Option<Localnet>,
    pub config: LocalnetConfig,
    pub rpc: RpcClient,
    /// Pays for test set-up transactions.
    pub payer: Keypair,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One run of the CLI.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "ironroot failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| {
            panic!("stdout is not JSON ({err}):\n{}\nstderr: {}", self.stdout, self.stderr)
        })
    }

    /// Asserts a failure with `code` and, for program errors, the error's name in the JSON.
    pub fn fails(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// The JSON error of a program refusal: (name, code).
    pub fn program_error(&self) -> (String, u64) {
        let error = &self.json()["error"];
        assert_eq!(error["kind"], "program", "{}", self.stdout);
        (error["name"].as_str().unwrap().to_string(), error["code"].as_u64().unwrap())
    }
}

impl Net {
    pub fn start() -> Net {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            state_dir: dir.path().join("localnet"),
            rpc_port: free_port(),
            ws_port: free_port(),
            slot_time_ms: 100,
        };
        let localnet = Localnet::start(&options).unwrap();
        let config = localnet.config().clone();
        let rpc = RpcClient::new_with_commitment(config.rpc_url.clone(), CommitmentConfig::confirmed());
        let payer = Keypair::new();
        let net = Net { dir, localnet: Some(localnet), config, rpc, payer };
        net.airdrop(&net.payer.pubkey(), 100);
        net
    }

    pub fn airdrop(&self, to: &Pubkey, sol: u64) {
        let signature = self.rpc.request_airdrop(to, sol * LAMPORTS_PER_SOL).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.rpc.confirm_transaction(&signature).unwrap() {
            assert!(Instant::now() < deadline, "airdrop not confirmed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A fresh keypair with `sol` SOL, written to `<dir>/<name>.json`.
    pub fn funded(&self, name: &str, sol: u64) -> (Keypair, PathBuf) {
        let keypair = Keypair::new();
        let path = self.dir.path().join(format!("{name}.json"));
        write_keypair_file(&keypair, &path).unwrap();
        if sol > 0 {
            self.airdrop(&keypair.pubkey(), sol);
        }
        (keypair, path)
    }

    pub fn governance(&self) -> (Keypair, PathBuf) {
        let path = self.config.governance.keypair_path.clone();
        (read_keypair_file(&path).unwrap(), path)
    }

    pub fn attester(&self) -> Keypair {
        read_keypair_file(&self.config.attester.keypair_path).unwrap()
    }

    /// `ironroot --url <localnet> --keypair <keypair> --output json <args>`, HOME in the test dir.
    pub fn cli(&self, keypair: &Path, args: &[&str]) -> Run {
        self.cli_with_input(keypair, args, None)
    }

    /// [`Self::cli`] with `input` on stdin (for confirmation prompts).
    pub fn cli_with_input(&self, keypair: &Path, args: &[&str], input: Option<&str>) -> Run {
        let mut full =
            vec!["--url", &self.config.rpc_url, "--keypair", keypair.to_str().unwrap(), "--output", "json"];
        full.extend_from_slice(args);
        self.raw_cli(&full, input, self.dir.path())
    }

    /// The binary with exactly `args`, HOME set to `home`.
    pub fn raw_cli(&self, args: &[&str], input: Option<&str>, home: &Path) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ironroot"))
            .args(args)
            .env("HOME", home)
            .env_remove("IRONROOT_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let Some(input) = input {
            stdin.write_all(input.as_bytes()).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn send(&self, ixs: &[Instruction], signers: &[&Keypair]) {
        let mut all = vec![&self.payer];
        all.extend_from_slice(signers);
        let blockhash = self.rpc.get_latest_blockhash().unwrap();
        let tx = Transaction::new_signed_with_payer(ixs, Some(&self.payer.pubkey()), &all, blockhash);
        self.rpc.send_and_confirm_transaction(&tx).unwrap();
    }

    /// Waits for a new blockhash, so a command repeated with the same signer and arguments is a
    /// new transaction (not a duplicate of the last one, which the cluster drops).
    pub fn next_blockhash(&self) {
        let current = self.rpc.get_latest_blockhash().unwrap();
        let limit = Instant::now() + Duration::from_secs(30);
        while self.rpc.get_latest_blockhash().unwrap() == current {
            assert!(Instant::now() < limit, "no new blockhash");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn account(&self, address: &Pubkey) -> Option<Account> {
        self.rpc.get_account_with_commitment(address, CommitmentConfig::confirmed()).unwrap().value
    }

    pub fn now(&self) -> i64 {
        let account = self.account(&sysvar::clock::ID).unwrap();
        solana_sdk::account::from_account::<Clock, _>(&account).unwrap().unix_timestamp
    }

    /// Waits until the cluster's clock is past `deadline`.
    pub fn wait_past(&self, deadline: i64) {
        let limit = Instant::now() + Duration::from_secs(60);
        while self.now() <= deadline {
            assert!(Instant::now() < limit, "the localnet clock did not pass {deadline}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn app(&self, address: &Pubkey) -> app_roots::App {
        roots::decode_app(address, &self.account(address).unwrap()).unwrap()
    }

    /// `governance init` through the CLI: the localnet's attester, threshold 1, and the test pair allowed.
    pub fn init_governance(&self) {
        let (_, gov) = self.governance();
        let attester = self.attester().pubkey().to_string();
        self.cli(&gov, &["governance", "init", "--attester", &attester]).ok();
        self.cli(
            &gov,
            &[
                "governance",
                "measurements",
                "add",
                "--measurement",
                &hex::encode(MEASUREMENT),
                "--app-id",
                &hex::encode(DSTACK_APP_ID),
                "--compose-hash",
                &hex::encode(COMPOSE_HASH),
                "--max-tcb-status",
                "1",
            ],
        )
        .ok();
    }

    /// Registers `tee` with a statement from the localnet's attester that expires at `expires_at`.
    pub fn register_tee(&self, tee: &Keypair, expires_at: i64) {
        let now = self.now();
        let genesis = Hash::from_str(&self.config.genesis_hash).unwrap();
        let statement = attestation::statement(StatementFields {
            cluster_genesis_hash: genesis.to_bytes(),
            tee_pubkey: tee.pubkey(),
            app_id: DSTACK_APP_ID,
            compose_hash: COMPOSE_HASH,
            measurement: MEASUREMENT,
            tcb_status: TcbStatus::UpToDate as u8,
            quote_hash: [0x44; 32],
            nonce: 1,
            verified_at: now,
            expires_at,
        });
        let attester = self.attester();
        let signatures = attestation::sign_statement(&statement, &[&attester as &dyn Signer]);
        let ixs =
            verifier::register_tee_transaction_instructions(&self.payer.pubkey(), &statement, &signatures)
                .unwrap();
        self.send(&ixs, &[tee]);
    }

    /// `app create` through the CLI (2-shard default below), returning the app's address.
    pub fn create_app(&self, publisher: &Path, app_id: [u8; 32], shards: u16) -> Pubkey {
        let run = self
            .cli(
                publisher,
                &[
                    "app",
                    "create",
                    "--yes",
                    "--app-id",
                    &hex::encode(app_id),
                    "--shards",
                    &shards.to_string(),
                    "--allow",
                    &allow_arg(),
                    "--min-key-validity-secs",
                    "60",
                ],
            )
            .ok();
        Pubkey::from_str(run.json()["app"].as_str().unwrap()).unwrap()
    }

    /// A TEE-signed shard update into the app's active history tree.
    pub fn update_shard(&self, tee: &Keypair, app: &Pubkey, shard_id: u16, root: [u8; 32], cid: &[u8]) {
        let state = self.app(app);
        let shard = roots::decode_shard(
            &pda::shard(app, shard_id),
            &self.account(&pda::shard(app, shard_id)).unwrap(),
        )
        .unwrap();
        let args = app_roots::UpdateShardArgs {
            shard_id,
            prev_root: shard.root,
            new_root: root,
            new_seq: shard.seq + 1,
            manifest_cid: cid.to_vec(),
        };
        self.send(&[roots::update_shard(&tee.pubkey(), app, &state.active_tree, args)], &[tee]);
    }

    /// An SPL Token mint (6 decimals) with the set-up payer as its authority.
    pub fn create_mint(&self) -> Pubkey {
        let mint = Keypair::new();
        let rent = self.rpc.get_minimum_balance_for_rent_exemption(spl_token::state::Mint::LEN).unwrap();
        let ixs = [
            system_instruction::create_account(
                &self.payer.pubkey(),
                &mint.pubkey(),
                rent,
                spl_token::state::Mint::LEN as u64,
                &spl_token::ID,
            ),
            spl_token::instruction::initialize_mint2(
                &spl_token::ID,
                &mint.pubkey(),
                &self.payer.pubkey(),
                None,
                6,
            )
            .unwrap(),
        ];
        self.send(&ixs, &[&mint]);
        mint.pubkey()
    }

    /// Mints `amount` into `owner`'s associated token account (created if needed).
    pub fn mint_to(&self, mint: &Pubkey, owner: &Pubkey, amount: u64) -> Pubkey {
        let ata = associated(owner, mint);
        let create = Instruction {
            program_id: ATA_PROGRAM,
            accounts: vec![
                AccountMeta::new(self.payer.pubkey(), true),
                AccountMeta::new(ata, false),
                AccountMeta::new_readonly(*owner, false),
                AccountMeta::new_readonly(*mint, false),
                AccountMeta::new_readonly(system_program::ID, false),
                AccountMeta::new_readonly(spl_token::ID, false),
            ],
            data: vec![1],
        };
        let mint_to =
            spl_token::instruction::mint_to(&spl_token::ID, mint, &ata, &self.payer.pubkey(), &[], amount)
                .unwrap();
        self.send(&[create, mint_to], &[]);
        ata
    }

    /// Token balance of a token account (0 if it does not exist).
    pub fn balance(&self, token_account: &Pubkey) -> u64 {
        self.account(token_account)
            .map(|a| spl_token::state::Account::unpack(&a.data).unwrap().amount)
            .unwrap_or(0)
    }
}

pub const ATA_PROGRAM: Pubkey = pubkey!("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");

pub fn associated(owner: &Pubkey, mint: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[owner.as_ref(), spl_token::ID.as_ref(), mint.as_ref()], &ATA_PROGRAM).0
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(localnet) = self.localnet.take() {
            let _ = localnet.stop();
        }
    }
}
