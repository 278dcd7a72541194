//! `butterfly`: the Butterfly API from the command line, signed in with an API key. Human
//! output by default, `--json` for scripts, and exit statuses that say what kind of failure
//! happened ([`error::EXIT_CODES`]).

#![forbid(unsafe_code)]

mod api;
mod args;
mod commands;
mod config;
mod error;
mod render;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version exit 0, usage errors 2.
            let code = e.exit_code();
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let json = cli.json;
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                eprintln!("{}", e.to_json());
            } else {
                eprintln!("{}", e.human());
            }
            ExitCode::from(e.exit_code())
        }
    }
}
