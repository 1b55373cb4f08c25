//! The `kapstone` command.
#![forbid(unsafe_code)]

mod score;

use clap::{Parser, Subcommand};
use kapstone_clinical::instrument::{Library, SourceFile};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kapstone",
    version,
    about = "Clinical platform for ketamine-assisted psychotherapy clinics"
)]
struct Cli {
    /// A directory of extra instrument files (NAME.toml) and licensed wording (ID.wording.toml).
    #[arg(long, global = true, env = "KAPSTONE_INSTRUMENTS", value_name = "DIR")]
    instruments: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score one questionnaire response.
    Score {
        /// Instrument id, e.g. phq9 (see `kapstone instruments`).
        instrument: String,
        /// Item answers in item order, comma-separated; `-` for an unanswered item.
        #[arg(long, allow_hyphen_values = true, value_name = "LIST")]
        answers: String,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// List the questionnaire library.
    Instruments {
        #[arg(long)]
        json: bool,
    },
    /// Create or upgrade the database schema.
    Migrate {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every clinic's hash chain; names the first broken event.
    Verify {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
    },
}

/// A failure with its exit status: 2 for bad input or configuration, 1 for everything else.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn input(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    fn other(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Score {
            instrument,
            answers,
            json,
        } => {
            let lib = library(cli.instruments.as_deref())?;
            let inst = lib.get(&instrument).ok_or_else(|| {
                Failure::input(format!(
                    "instrument: '{instrument}' is not in the library; allowed values: {}",
                    lib.ids().join(", ")
                ))
            })?;
            let parsed = inst
                .parse_answers(&answers)
                .map_err(|e| Failure::input(e.to_string()))?;
            let result = inst.score(&parsed);
            if json {
                println!("{}", score::score_json(inst, parsed.values(), &result));
            } else {
                println!("{}", score::score_text(inst, &result));
            }
            Ok(())
        }
        Command::Instruments { json } => {
            let lib = library(cli.instruments.as_deref())?;
            if json {
                println!("{}", score::instruments_json(&lib));
            } else {
                print!("{}", score::instruments_text(&lib));
            }
            Ok(())
        }
        Command::Migrate { db } => runtime()?.block_on(migrate(&db)),
        Command::Audit {
            command: AuditCommand::Verify { db },
        } => runtime()?.block_on(audit_verify(&db)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("cannot start the async runtime: {e}")))
}

/// The built-in library plus a clinic's directory, checked now: a bad file stops kapstone here.
fn library(dir: Option<&Path>) -> Result<Library, Failure> {
    let files = match dir {
        None => Vec::new(),
        Some(dir) => read_instrument_dir(dir)?,
    };
    Library::with_clinic_files(&files).map_err(|e| Failure::input(e.to_string()))
}

fn read_instrument_dir(dir: &Path) -> Result<Vec<SourceFile>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Failure::input(format!(
            "instruments: cannot read directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Failure::input(format!("instruments: {}: {e}", dir.display())))?
            .path();
        if path.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Failure::input(format!("instruments: cannot read {}: {e}", path.display()))
            })?;
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            files.push(SourceFile { name, text });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

async fn open(db: &str) -> Result<Box<dyn kapstone_store::Store>, Failure> {
    kapstone_store::connect(db).await.map_err(|e| match e {
        kapstone_store::StoreError::UnsupportedUrl(_) => Failure::input(format!("--db: {e}")),
        other => Failure::other(format!(
            "cannot open {}: {other}",
            kapstone_store::redact_url(db)
        )),
    })
}

async fn migrate(db: &str) -> Result<(), Failure> {
    let store = open(db).await?;
    store
        .migrate()
        .await
        .map_err(|e| Failure::other(e.to_string()))?;
    println!(
        "{} is at the current schema ({} backend; migrations: {})",
        kapstone_store::redact_url(db),
        store.backend(),
        store.migration_names().join(", ")
    );
    Ok(())
}

async fn audit_verify(db: &str) -> Result<(), Failure> {
    let store = open(db).await?;
    let report = store.verify_audit_chain().await.map_err(|e| {
        Failure::other(format!(
            "{e} (has the database been created with `kapstone migrate`?)"
        ))
    })?;
    match report.broken {
        None => {
            println!(
                "audit log intact: {} event(s) in {} clinic chain(s)",
                report.events, report.clinics
            );
            Ok(())
        }
        Some(b) => Err(Failure::other(format!("{b}"))),
    }
}
