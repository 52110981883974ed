//! Solana CLI conventions: the keypair and URL from the Solana CLI config (or
//! ~/.config/solana/id.json), URL monikers, and display output.
use std::fs;

use ironroot_sdk::pda;
use solana_sdk::signature::{write_keypair_file, Keypair, Signer};

use crate::support::{allow_arg, Net};

#[test]
fn keypair_and_url_from_the_solana_config() {
    let net = Net::start();
    let create = |app_id: u8| {
        vec![
            "app".to_string(),
            "create".into(),
            "--yes".into(),
            "--output".into(),
            "json".into(),
            "--app-id".into(),
            hex::encode([app_id; 32]),
            "--allow".into(),
            allow_arg(),
        ]
    };

    // config.yml names the URL and a keypair elsewhere: no --url, no --keypair needed.
    let home = net.dir.path().join("home-config");
    let configured = Keypair::new();
    let keypair_path = net.dir.path().join("configured.json");
    write_keypair_file(&configured, &keypair_path).unwrap();
    net.airdrop(&configured.pubkey(), 5);
    fs::create_dir_all(home.join(".config/solana/cli")).unwrap();
    fs::write(
        home.join(".config/solana/cli/config.yml"),
        format!(
            "---\njson_rpc_url: \"{}\"\nwebsocket_url: \"\"\nkeypair_path: {}\naddress_labels:\n  \"11111111111111111111111111111111\": System Program\ncommitment: confirmed\n",
            net.config.rpc_url,
            keypair_path.display()
        ),
    )
    .unwrap();
    let args: Vec<String> = create(0xd1);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let created = net.raw_cli(&args, None, &home).ok().json();
    assert_eq!(created["app"], pda::app(&configured.pubkey(), &[0xd1; 32]).to_string());

    // No config file: ~/.config/solana/id.json, with --url given.
    let home = net.dir.path().join("home-id");
    let default_key = Keypair::new();
    fs::create_dir_all(home.join(".config/solana")).unwrap();
    write_keypair_file(&default_key, home.join(".config/solana/id.json")).unwrap();
    net.airdrop(&default_key.pubkey(), 5);
    let mut args = create(0xd2);
    args.splice(0..0, ["--url".to_string(), net.config.rpc_url.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let created = net.raw_cli(&args, None, &home).ok().json();
    let app = pda::app(&default_key.pubkey(), &[0xd2; 32]);
    assert_eq!(created["app"], app.to_string());
    assert_eq!(net.app(&app).publisher, default_key.pubkey());

    // Display output is text; a bad moniker is a clear error; a missing keypair names the path.
    let shown = net.raw_cli(&["-u", &net.config.rpc_url, "app", "show", &app.to_string()], None, &home).ok();
    assert!(shown.stdout.starts_with(&format!("App {app}")), "{}", shown.stdout);
    let bad = net.raw_cli(&["--url", "moonnet", "app", "show", &app.to_string()], None, &home).fails(1);
    assert!(bad.stderr.contains("moonnet") && bad.stderr.contains("mainnet-beta"), "{}", bad.stderr);
    let empty_home = net.dir.path().join("home-empty");
    fs::create_dir_all(&empty_home).unwrap();
    let mut args = create(0xd3);
    args.splice(0..0, ["--url".to_string(), net.config.rpc_url.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let missing = net.raw_cli(&args, None, &empty_home).fails(1);
    assert!(missing.stderr.contains(".config/solana/id.json"), "{}", missing.stderr);

    // A keypair without SOL: the runtime's refusal comes with what to do.
    let (_, broke_path) = net.funded("broke", 0);
    let broke = net
        .cli(
            &broke_path,
            &["app", "create", "--yes", "--app-id", &hex::encode([0xd4; 32]), "--allow", &allow_arg()],
        )
        .fails(3);
    assert_eq!(broke.json()["error"]["kind"], "transaction");
    assert!(broke.stderr.contains("needs SOL"), "{}", broke.stderr);
}
