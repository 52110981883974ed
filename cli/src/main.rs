//! `ironroot`: the command line for the people around the keeper (publishers, providers,
//! governance), with the Solana CLI's conventions: `--url/-u`, `--keypair/-k` (default: the Solana
//! CLI config's keypair), `--output json|display`, and a confirmation prompt before destructive
//! commands (`--yes` skips it). Every instruction is built by the Rust SDK (`ironroot-sdk`).
mod args;
mod commands;
mod context;
mod encoding;
mod errors;
mod token;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::context::{Context, OutputFormat};
use crate::errors::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = cli.global.output;
    let result = Context::new(&cli.global).and_then(|ctx| commands::run(&ctx, cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let typed = err.downcast_ref::<CliError>();
            if output == OutputFormat::Json {
                let error = match typed {
                    Some(typed) => typed.to_json(),
                    None => serde_json::json!({ "kind": "error", "message": format!("{err:#}") }),
                };
                println!("{}", serde_json::json!({ "error": error }));
            }
            eprintln!("error: {err:#}");
            ExitCode::from(typed.map_or(1, CliError::exit_code))
        }
    }
}
