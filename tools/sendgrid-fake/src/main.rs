//! `sendgrid-fake`: serve the fake SendGrid API and inbox until killed.

use std::io::Write;
use std::process::ExitCode;

use sendgrid_fake::{FakeConfig, USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match FakeConfig::from_args(args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("sendgrid-fake: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let fake = match sendgrid_fake::start(config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("sendgrid-fake: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts wait for this exact line; the key is what SENDGRID_WEBHOOK_PUBLIC_KEY must hold.
    println!("sendgrid-fake listening on {}", fake.base_url());
    println!(
        "sendgrid-fake event webhook public key {}",
        fake.public_key()
    );
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
