//! `ai-fakes`: both provider fakes on fixed ports, until interrupted.

use std::process::ExitCode;

const USAGE: &str = "\
usage: ai-fakes [options]

  --host <addr>            address to bind (default 127.0.0.1)
  --anthropic-port <p>     Messages API fake (default 0: any free port)
  --openai-port <p>        Chat Completions API fake (default 0)
  --anthropic-key <k>      accepted x-api-key (default sk-ant-fake-0123456789)
  --openai-key <k>         accepted Bearer key (default sk-openai-fake-0123456789)
";

fn main() -> ExitCode {
    let mut config = ai_fakes::FakeConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        let Some(value) = args.next() else {
            eprint!("{flag} needs a value\n{USAGE}");
            return ExitCode::from(2);
        };
        let port = |v: &str| v.parse::<u16>().map_err(|_| format!("{flag}: not a port"));
        let applied = match flag.as_str() {
            "--host" => {
                config.host = value;
                Ok(())
            }
            "--anthropic-port" => port(&value).map(|p| config.anthropic_port = p),
            "--openai-port" => port(&value).map(|p| config.openai_port = p),
            "--anthropic-key" => {
                config.anthropic_key = value;
                Ok(())
            }
            "--openai-key" => {
                config.openai_key = value;
                Ok(())
            }
            _ => Err(format!("unknown option {flag}")),
        };
        if let Err(e) = applied {
            eprint!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    match ai_fakes::start(config) {
        Ok(fakes) => {
            println!(
                "ai-fakes anthropic {}",
                fakes.url(ai_fakes::Provider::Anthropic)
            );
            println!("ai-fakes openai {}", fakes.url(ai_fakes::Provider::OpenAi));
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("ai-fakes: {e}");
            ExitCode::FAILURE
        }
    }
}
