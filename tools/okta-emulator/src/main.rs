//! `okta-emulator`: serve a seeded Okta org until killed.

use std::io::Write;
use std::process::ExitCode;

use okta_emulator::{EmulatorConfig, USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match EmulatorConfig::from_args(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("okta-emulator: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let summary = if config.sandbox {
        format!("okta-emulator: seed {}, empty sandbox org", config.seed)
    } else {
        format!(
            "okta-emulator: seed {}, {} users, {} groups + Everyone, {} apps",
            config.seed, config.users, config.groups, config.apps
        )
    };
    let emulator = match okta_emulator::start(config) {
        Ok(emulator) => emulator,
        Err(err) => {
            eprintln!("okta-emulator: cannot listen: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts wait for this exact line (and read the port from it when started with --port 0).
    println!("okta-emulator listening on {}", emulator.base_url());
    let _ = std::io::stdout().flush();
    eprintln!("{summary}");
    loop {
        std::thread::park();
    }
}
