//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::EXIT_CODES;

const ABOUT: &str = "Butterfly from the command line: backups, diffs, restores and audit packs of \
your Okta tenants, with an API key.";

const AFTER: &str = "\
Credentials: `butterfly login` reads an API key from BUTTERFLY_API_KEY or stdin (never from the
command line), checks it against the API and stores it with the URL in a 0600 config file.
BUTTERFLY_API_KEY and BUTTERFLY_URL override the file; --url overrides both.";

#[derive(Debug, Parser)]
#[command(name = "butterfly", version, about = ABOUT, after_help = format!("{AFTER}\n\n{EXIT_CODES}"))]
pub struct Cli {
    /// Print machine-readable JSON on stdout (errors as JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// The config file [default: $XDG_CONFIG_HOME/butterfly/config.json].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The Butterfly API's URL, e.g. https://butterfly.example.com [env: BUTTERFLY_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check an API key (from BUTTERFLY_API_KEY or stdin) and store it with the URL.
    Login,
    /// Forget the stored key (delete the config file). Revoke the key in Butterfly too.
    Logout,
    /// Show the URL, the key in use (its public prefix) and its teams.
    #[command(alias = "status")]
    Whoami,
    /// Okta connections.
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Backups of a connection.
    #[command(subcommand)]
    Backups(BackupsCommand),
    /// Run a backup.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// What changed between two complete backups of a connection.
    Diff(DiffArgs),
    /// Plan, inspect and apply restores.
    #[command(subcommand)]
    Restore(RestoreCommand),
    /// Export and verify signed audit packs.
    #[command(subcommand, name = "audit-pack")]
    AuditPack(AuditPackCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// List the team's connections.
    List,
}

#[derive(Debug, Subcommand)]
pub enum BackupsCommand {
    /// List a connection's backups, newest first.
    List { connection: String },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Start a backup of a connection and wait for it to finish (with a progress display).
    Run {
        connection: String,
        /// Return as soon as the backup is queued.
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub connection: String,
    /// The earlier backup.
    #[arg(long, value_name = "BACKUP")]
    pub from: String,
    /// The later backup.
    #[arg(long, value_name = "BACKUP")]
    pub to: String,
    /// Only this resource type (e.g. users, groups, apps).
    #[arg(long = "type", value_name = "TYPE")]
    pub resource_type: Option<String>,
    /// Only this resource (its Okta id).
    #[arg(long, value_name = "ID")]
    pub resource_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// A dry run: what restoring a backup into the connection's live tenant would write.
    /// Without --types or --resource the scope is the whole tenant.
    Plan(PlanArgs),
    /// A stored plan, with an apply's status and progress.
    Show { id: String },
    /// Apply a plan (asks for confirmation unless --yes), wait for it and print the receipt.
    Apply {
        id: String,
        /// Apply without asking.
        #[arg(long)]
        yes: bool,
        /// Return as soon as the apply is queued.
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    pub connection: String,
    /// The backup to restore from (a complete backup of any of the team's connections).
    #[arg(long, value_name = "BACKUP")]
    pub from: String,
    /// Only these resource types, comma-separated (e.g. groups,group_members).
    #[arg(
        long,
        value_name = "TYPES",
        value_delimiter = ',',
        conflicts_with = "resource"
    )]
    pub types: Vec<String>,
    /// Only this resource, as TYPE:ID (repeatable), with the children its key names.
    #[arg(long, value_name = "TYPE:ID")]
    pub resource: Vec<String>,
    /// Also delete what the target has and the backup does not.
    #[arg(long)]
    pub delete_missing: bool,
    /// Plan even though the lockout check finds admins would be locked out.
    #[arg(long)]
    pub override_lockout: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditPackCommand {
    /// Stream a signed audit pack of a team's evidence to a file.
    Export {
        /// The team [default: the key's team, when it has exactly one].
        #[arg(long)]
        team: Option<String>,
        /// Start: RFC 3339, or a date (its start, UTC).
        #[arg(long, value_name = "WHEN")]
        from: String,
        /// End: RFC 3339, or a date (its end, UTC).
        #[arg(long, value_name = "WHEN")]
        to: String,
        /// The file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check a pack offline: signature, file hashes, activity chain, anchors.
    /// Trusts the API's published keys unless --jwks or --key names the keys to trust.
    Verify {
        file: PathBuf,
        /// A JWKS file of trusted signing keys.
        #[arg(long, value_name = "FILE", conflicts_with = "key")]
        jwks: Option<PathBuf>,
        /// One trusted signing key (SPKI PEM).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("butterfly").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&[
            "connections",
            "list",
            "--json",
            "--url",
            "https://b.example",
        ])
        .unwrap();
        assert!(cli.json);
        assert_eq!(cli.url.as_deref(), Some("https://b.example"));
        assert!(matches!(
            cli.command,
            Command::Connections(ConnectionsCommand::List)
        ));
        let cli = parse(&["--json", "--config", "/tmp/c.json", "whoami"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.config.unwrap(), PathBuf::from("/tmp/c.json"));
        assert!(matches!(
            parse(&["status"]).unwrap().command,
            Command::Whoami
        ));
    }

    #[test]
    fn commands_take_their_arguments() {
        match parse(&["backup", "run", "c1", "--no-wait"])
            .unwrap()
            .command
        {
            Command::Backup(BackupCommand::Run {
                connection,
                no_wait,
            }) => assert_eq!((connection.as_str(), no_wait), ("c1", true)),
            other => panic!("{other:?}"),
        }
        match parse(&[
            "diff", "c1", "--from", "b1", "--to", "b2", "--type", "users",
        ])
        .unwrap()
        .command
        {
            Command::Diff(d) => {
                assert_eq!((d.from.as_str(), d.to.as_str()), ("b1", "b2"));
                assert_eq!(d.resource_type.as_deref(), Some("users"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "restore",
            "plan",
            "c1",
            "--from",
            "b1",
            "--types",
            "groups,group_members",
        ])
        .unwrap()
        .command
        {
            Command::Restore(RestoreCommand::Plan(p)) => {
                assert_eq!(p.types, ["groups", "group_members"]);
                assert!(p.resource.is_empty() && !p.delete_missing);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["restore", "apply", "r1", "--yes"]).unwrap().command {
            Command::Restore(RestoreCommand::Apply { id, yes, no_wait }) => {
                assert_eq!((id.as_str(), yes, no_wait), ("r1", true, false))
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "audit-pack",
            "export",
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-01",
            "-o",
            "p.zip",
        ])
        .unwrap()
        .command
        {
            Command::AuditPack(AuditPackCommand::Export { team, output, .. }) => {
                assert!(team.is_none());
                assert_eq!(output, PathBuf::from("p.zip"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn usage_errors_are_refused() {
        for bad in [
            &["login", "bfk_on_the_command_line"][..],
            &["diff", "c1", "--from", "b1"],
            &["backup", "run"],
            &[
                "restore",
                "plan",
                "c1",
                "--from",
                "b",
                "--types",
                "groups",
                "--resource",
                "groups:1",
            ],
            &[
                "audit-pack",
                "verify",
                "p.zip",
                "--jwks",
                "k.json",
                "--key",
                "k.pem",
            ],
            &["audit-pack", "export", "--from", "a", "--to", "b"],
            &["nope"],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn help_documents_the_exit_codes_and_where_the_key_comes_from() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit status:"), "{help}");
        assert!(help.contains("6  verification failed"), "{help}");
        assert!(help.contains("BUTTERFLY_API_KEY"), "{help}");
    }
}
