//! `stripe-fake`: serve the fake Stripe API until killed.

use std::io::Write;
use std::process::ExitCode;

use stripe_fake::{FakeConfig, USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match FakeConfig::from_args(args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("stripe-fake: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let fake = match stripe_fake::start(config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("stripe-fake: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts wait for this exact line.
    println!("stripe-fake listening on {}", fake.base_url());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
