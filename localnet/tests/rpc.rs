//! The localnet over real JSON-RPC: started in-process on free ports, driven with solana-client's
//! nonblocking `RpcClient`. Native programs' logs never reach the transaction logs, so every check
//! is on account state, returned errors or inner instructions.
use std::net::TcpListener;
use std::path::Path;

use app_roots::error::AppRootsError;
use app_roots::{CreateAppArgs, UpdateShardArgs};
use futures_util::StreamExt;
use ironroot_bank::dev::{DevTrust, DEV_KEY_LIFETIME_SECS};
use ironroot_localnet::{Localnet, LocalnetConfig, Options};
use ironroot_sdk::history::{
    history_records as history_records_of, onchain_tree_root, HistoryMirror, InnerCall,
};
use ironroot_sdk::{app_roots as roots, pda, registry, transaction_size, PACKET_DATA_SIZE};
use solana_client::client_error::ClientError;
use solana_client::nonblocking::pubsub_client::PubsubClient;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::{
    RpcSendTransactionConfig, RpcSimulateTransactionConfig, RpcTransactionConfig,
};
use solana_sdk::clock::Clock;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::hash::{hash, hashv, Hash};
use solana_sdk::instruction::{Instruction, InstructionError};
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::program_pack::Pack;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use solana_sdk::signature::{read_keypair_file, Keypair, Signature, Signer};
use solana_sdk::system_instruction;
use solana_sdk::sysvar;
use solana_sdk::transaction::{Transaction, TransactionError};
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::{UiInstruction, UiTransactionEncoding};

/// Two distinct free ports (both listeners are held until both ports are known).
fn free_ports() -> (u16, u16) {
    let (a, b) = (TcpListener::bind("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap());
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

/// Starts a localnet with its state in `dir` (blocking start, so off the async executor).
async fn start(dir: &Path) -> Localnet {
    let (rpc_port, ws_port) = free_ports();
    let options = Options { state_dir: dir.to_path_buf(), rpc_port, ws_port, slot_time_ms: 100 };
    tokio::task::spawn_blocking(move || Localnet::start(&options)).await.unwrap().expect("localnet starts")
}

/// A client with a fee payer funded through `requestAirdrop`.
struct Client {
    rpc: RpcClient,
    payer: Keypair,
    /// Blockhash of the last transaction sent: each transaction gets a newer one, so a repeated
    /// instruction list is a new transaction, not a duplicate of an earlier one.
    last_blockhash: Hash,
}

impl Client {
    async fn new(config: &LocalnetConfig) -> Client {
        let rpc = RpcClient::new_with_commitment(config.rpc_url.clone(), CommitmentConfig::confirmed());
        let payer = Keypair::new();
        let airdrop = rpc.request_airdrop(&payer.pubkey(), 100 * LAMPORTS_PER_SOL).await.unwrap();
        wait_confirmed(&rpc, &airdrop).await;
        assert_eq!(rpc.get_balance(&payer.pubkey()).await.unwrap(), 100 * LAMPORTS_PER_SOL);
        Client { rpc, payer, last_blockhash: Hash::default() }
    }

    /// Signs with the payer and `signers`, checks the packet limit, sends with preflight and waits
    /// for confirmation.
    async fn send(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> Result<Signature, ClientError> {
        let blockhash = self.rpc.get_new_latest_blockhash(&self.last_blockhash).await?;
        self.last_blockhash = blockhash;
        let mut all: Vec<&Keypair> = vec![&self.payer];
        all.extend(signers.iter().copied().filter(|s| s.pubkey() != self.payer.pubkey()));
        let tx = Transaction::new_signed_with_payer(ixs, Some(&self.payer.pubkey()), &all, blockhash);
        let size = transaction_size(&tx);
        assert!(size <= PACKET_DATA_SIZE, "transaction of {size} bytes exceeds {PACKET_DATA_SIZE}");
        self.rpc.send_and_confirm_transaction(&tx).await
    }

    async fn clock(&self) -> Clock {
        let account = self.rpc.get_account(&sysvar::clock::ID).await.unwrap();
        bincode::deserialize(&account.data).unwrap()
    }

    async fn tree_root(&self, tree: &Pubkey) -> [u8; 32] {
        onchain_tree_root(&self.rpc.get_account(tree).await.unwrap().data).unwrap().0
    }
}

async fn wait_confirmed(rpc: &RpcClient, signature: &Signature) {
    for _ in 0..200 {
        if rpc.confirm_transaction(signature).await.unwrap() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{signature} not confirmed");
}

fn custom_error(err: &ClientError) -> Option<(u8, u32)> {
    match err.get_transaction_error() {
        Some(TransactionError::InstructionError(index, InstructionError::Custom(code))) => {
            Some((index, code))
        }
        _ => None,
    }
}

/// The development trust setup the localnet wrote: its governance key and its one attester.
fn trust_from(config: &LocalnetConfig) -> DevTrust {
    let governance = read_keypair_file(&config.governance.keypair_path).unwrap();
    let attester = read_keypair_file(&config.attester.keypair_path).unwrap();
    assert_eq!(governance.pubkey().to_string(), config.governance.pubkey);
    DevTrust { governance, attesters: vec![attester], ..DevTrust::new(0, 1) }
}

/// The `ShardUpdated` records a confirmed transaction wrote as spl-noop inner instructions.
async fn history_records(rpc: &RpcClient, signature: &Signature) -> Vec<app_roots::events::ShardUpdated> {
    let config = RpcTransactionConfig {
        encoding: Some(UiTransactionEncoding::Base64),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    };
    let tx = rpc.get_transaction_with_config(signature, config).await.unwrap();
    let message = tx.transaction.transaction.decode().unwrap().message;
    let keys = message.static_account_keys().to_vec();
    let outer: Vec<Pubkey> =
        message.instructions().iter().map(|ix| keys[ix.program_id_index as usize]).collect();
    let OptionSerializer::Some(inner) = tx.transaction.meta.unwrap().inner_instructions else {
        panic!("no inner instructions");
    };
    let calls: Vec<(usize, Option<u32>, Pubkey, Vec<u8>)> = inner
        .into_iter()
        .flat_map(|set| {
            let index = set.index as usize;
            set.instructions.into_iter().filter_map(move |ix| match ix {
                UiInstruction::Compiled(ix) => Some((
                    index,
                    ix.stack_height,
                    keys[ix.program_id_index as usize],
                    bs58::decode(&ix.data).into_vec().unwrap(),
                )),
                _ => None,
            })
        })
        .collect();
    // Only records app_roots itself wrote count (see ironroot_sdk::history::history_records).
    history_records_of(
        &outer,
        calls.iter().map(|(outer_index, stack_height, program_id, data)| InnerCall {
            outer_index: *outer_index,
            stack_height: *stack_height,
            program_id,
            data,
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_a_tee_and_sequences_shard_updates_over_json_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let localnet = start(dir.path()).await;
    let config = localnet.config().clone();
    // The config on disk is the one the localnet reports.
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(localnet.config_path()).unwrap()).unwrap();
    assert_eq!(written["rpc_url"], config.rpc_url);
    assert_eq!(written["programs"]["app_roots"], app_roots::ID.to_string());

    let mut client = Client::new(&config).await;
    let genesis: Hash = client.rpc.get_genesis_hash().await.unwrap();
    assert_eq!(genesis.to_string(), config.genesis_hash);
    let trust = trust_from(&config);

    // Governance (the verifier's upgrade authority, funded by the localnet) initialises the verifier.
    client.send(&trust.setup_instructions_for(&genesis), &[&trust.governance]).await.unwrap();
    let verifier_config = pda::verifier_config();
    let decoded = registry::decode_verifier_config(
        &verifier_config,
        &client.rpc.get_account(&verifier_config).await.unwrap(),
    )
    .unwrap();
    assert_eq!(decoded.authority, trust.governance.pubkey());
    assert_eq!(decoded.cluster_genesis_hash, genesis.to_bytes());

    // A TEE key registered through an attester-signed statement (Ed25519 precompile + register_tee).
    let tee = Keypair::new();
    let now = client.clock().await.unix_timestamp;
    let statement = trust.statement_for(&genesis, &tee, 1, now);
    let registration = trust.registration_for(&client.payer.pubkey(), &statement);
    client.send(&registration, &[&tee]).await.unwrap();
    let entry_address = pda::tee_entry(&tee.pubkey());
    let entry =
        registry::decode_tee_entry(&entry_address, &client.rpc.get_account(&entry_address).await.unwrap())
            .unwrap();
    assert_eq!(entry.tee_pubkey, tee.pubkey());
    assert_eq!(entry.measurement, trust.measurement);
    assert_eq!(entry.app_id, trust.app.app_id);
    assert_eq!(entry.compose_hash, trust.app.compose_hash);
    assert_eq!(entry.statement_hash, hash(&statement.to_bytes()).to_bytes());
    assert_eq!(entry.expires_at, now + DEV_KEY_LIFETIME_SECS);
    assert_eq!(entry.last_nonce, 1);
    assert!(!entry.revoked);
    // Indexed for getProgramAccounts too.
    let registry_accounts = client.rpc.get_program_accounts(&tee_registry::ID).await.unwrap();
    assert!(registry_accounts.iter().any(|(address, _)| *address == entry_address));

    // An app with two shards; the payer publishes it.
    let app_id = hashv(&[b"localnet-app"]).to_bytes();
    let tree = Keypair::new();
    let rent: Rent =
        bincode::deserialize(&client.rpc.get_account(&sysvar::rent::ID).await.unwrap().data).unwrap();
    let publisher = client.payer.pubkey();
    let args = CreateAppArgs {
        app_id,
        shard_count: 2,
        max_depth: 14,
        max_buffer_size: 64,
        policy: trust.app_policy(),
    };
    client
        .send(&roots::create_app(&publisher, &tree.pubkey(), &rent, args).unwrap(), &[&tree])
        .await
        .unwrap();
    let app_address = pda::app(&publisher, &app_id);
    let init_shards: Vec<_> = (0..2).map(|id| roots::init_shard(&publisher, &app_address, id)).collect();
    client.send(&init_shards, &[]).await.unwrap();
    let app = roots::decode_app(&app_address, &client.rpc.get_account(&app_address).await.unwrap()).unwrap();
    assert_eq!((app.shard_count, app.active_tree, app.publisher), (2, tree.pubkey(), publisher));
    let empty_root = client.tree_root(&tree.pubkey()).await;

    // Two sequenced updates of shard 0, signed by the TEE key.
    let root1 = hashv(&[b"shard-0", &1u64.to_le_bytes()]).to_bytes();
    let root2 = hashv(&[b"shard-0", &2u64.to_le_bytes()]).to_bytes();
    let update = |prev_root, new_root, new_seq: u64| {
        let manifest_cid = format!("manifest-{new_seq}").into_bytes();
        let args = UpdateShardArgs { shard_id: 0, prev_root, new_root, new_seq, manifest_cid };
        roots::update_shard(&tee.pubkey(), &app_address, &tree.pubkey(), args)
    };
    let mut mirror = HistoryMirror::new(app_address, tree.pubkey(), 0, 14);
    let mut tree_roots = vec![empty_root];
    for (prev_root, new_root, seq) in [([0; 32], root1, 1), (root1, root2, 2)] {
        let signature = client.send(&[update(prev_root, new_root, seq)], &[&tee]).await.unwrap();
        let shard_address = pda::shard(&app_address, 0);
        let shard =
            roots::decode_shard(&shard_address, &client.rpc.get_account(&shard_address).await.unwrap())
                .unwrap();
        assert_eq!((shard.seq, shard.root, shard.last_signer), (seq, new_root, tee.pubkey()));
        assert_eq!(shard.manifest_cid, format!("manifest-{seq}").into_bytes());
        // The history record arrives as an spl-noop inner instruction (getTransaction).
        let records = history_records(&client.rpc, &signature).await;
        assert_eq!(records.len(), 1);
        assert_eq!((records[0].seq, records[0].root, records[0].leaf_index), (seq, new_root, seq - 1));
        mirror.push(records[0].clone()).unwrap();
        tree_roots.push(client.tree_root(&tree.pubkey()).await);
    }
    assert_ne!(tree_roots[0], tree_roots[1], "first update changes the history root");
    assert_ne!(tree_roots[1], tree_roots[2], "second update changes the history root");
    assert_eq!(mirror.root(), tree_roots[2], "mirror rebuilt from getTransaction matches the chain");
    let proof = mirror.proof(1).unwrap();
    assert!(proof.verify(&tree_roots[2]));

    // The second update again, as a new transaction: rejected as a replay, nothing changes.
    let err = client.send(&[update(root1, root2, 2)], &[&tee]).await.unwrap_err();
    let replay = u32::from(AppRootsError::SequenceReplay);
    assert_eq!(replay, 7012, "app_roots error codes are part of the client interface");
    assert_eq!(custom_error(&err), Some((0, replay)), "{err}");
    assert_eq!(client.tree_root(&tree.pubkey()).await, tree_roots[2]);

    localnet.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_forged_signatures_and_runs_spl_token() {
    let dir = tempfile::tempdir().unwrap();
    let localnet = start(dir.path()).await;
    let mut client = Client::new(localnet.config()).await;
    // Finalized slot right after start (surfpool 0.10.4 underflows below slot 31; see lib.rs).
    client.rpc.get_slot_with_commitment(CommitmentConfig::finalized()).await.unwrap();

    // The WebSocket server streams slots.
    let pubsub = PubsubClient::new(&localnet.config().ws_url).await.unwrap();
    let (mut slots, unsubscribe) = pubsub.slot_subscribe().await.unwrap();
    let slot = tokio::time::timeout(std::time::Duration::from_secs(10), slots.next()).await.unwrap().unwrap();
    assert!(slot.slot > 0);
    unsubscribe().await;

    // A transfer whose payer signature was made by another key.
    let recipient = Pubkey::new_unique();
    let blockhash = client.rpc.get_latest_blockhash().await.unwrap();
    let mut forged = Transaction::new_with_payer(
        &[system_instruction::transfer(&client.payer.pubkey(), &recipient, LAMPORTS_PER_SOL)],
        Some(&client.payer.pubkey()),
    );
    forged.message.recent_blockhash = blockhash;
    forged.signatures = vec![Keypair::new().sign_message(&forged.message_data())];
    // A simulation that asks for verification rejects it.
    let config = RpcSimulateTransactionConfig { sig_verify: true, ..Default::default() };
    let simulation = client.rpc.simulate_transaction_with_config(&forged, config).await;
    let rejected = match simulation {
        Ok(response) => response.value.err,
        Err(err) => err.get_transaction_error(),
    };
    assert_eq!(rejected, Some(TransactionError::SignatureFailure));
    // Sent without preflight, it is verified before execution: rejected, nothing moves, no fee.
    let payer_before = client.rpc.get_balance(&client.payer.pubkey()).await.unwrap();
    let config = RpcSendTransactionConfig { skip_preflight: true, ..Default::default() };
    let sent = client.rpc.send_transaction_with_config(&forged, config).await.unwrap_err();
    assert!(sent.to_string().contains("signature verification"), "{sent}");
    let later = client.rpc.get_new_latest_blockhash(&blockhash).await.unwrap();
    client.rpc.get_new_latest_blockhash(&later).await.unwrap();
    assert_eq!(client.rpc.get_balance(&recipient).await.unwrap(), 0);
    assert_eq!(client.rpc.get_balance(&client.payer.pubkey()).await.unwrap(), payer_before);

    // SPL Token is deployed (LiteSVM's SBF build) and runs: initialise a mint.
    let token_program = client.rpc.get_account(&spl_token::ID).await.unwrap();
    assert!(token_program.executable);
    let mint = Keypair::new();
    let rent = client.rpc.get_minimum_balance_for_rent_exemption(spl_token::state::Mint::LEN).await.unwrap();
    let ixs = [
        system_instruction::create_account(
            &client.payer.pubkey(),
            &mint.pubkey(),
            rent,
            spl_token::state::Mint::LEN as u64,
            &spl_token::ID,
        ),
        spl_token::instruction::initialize_mint2(
            &spl_token::ID,
            &mint.pubkey(),
            &client.payer.pubkey(),
            None,
            6,
        )
        .unwrap(),
    ];
    client.send(&ixs, &[&mint]).await.unwrap();
    let state =
        spl_token::state::Mint::unpack(&client.rpc.get_account(&mint.pubkey()).await.unwrap().data).unwrap();
    assert!(state.is_initialized);
    assert_eq!(state.decimals, 6);
    assert_eq!(state.mint_authority, Some(client.payer.pubkey()).into());

    localnet.stop().unwrap();
}
