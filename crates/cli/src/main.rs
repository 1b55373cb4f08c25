//! The `kapstone` command.
#![forbid(unsafe_code)]

mod anchor;
mod backup;
mod demo;
mod import;
mod keys;
mod progress;
mod report;
mod score;
mod shutdown;
mod staff;

use clap::{Parser, Subcommand};
use kapstone_app::StaffChange;
use kapstone_clinical::instrument::{Library, SourceFile};
use kapstone_web::logging::LogFormat;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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
    /// Create (if absent) a synthetic demo clinic and serve it.
    Demo {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone-demo.db")]
        db: String,
        /// Synthetic patients to create with a new demo clinic.
        #[arg(long, default_value_t = kapstone_demo::DEFAULT_PATIENTS)]
        patients: usize,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        #[arg(long, env = "KAPSTONE_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Log lines on stderr as text or json (one object a line); level from KAPSTONE_LOG.
        #[arg(
            long,
            env = "KAPSTONE_LOG_FORMAT",
            default_value = "text",
            value_name = "text|json"
        )]
        log_format: LogFormat,
    },
    /// Run the clinic.
    Serve {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
        #[arg(long, env = "KAPSTONE_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// The address people reach kapstone at, used in links (https:// unless on this machine).
        #[arg(long, env = "KAPSTONE_PUBLIC_URL")]
        public_url: Option<String>,
        /// The clinic's mail server for questionnaire links: smtp://HOST:PORT,
        /// smtp://USER:PASS@HOST:587?tls=required or smtps://USER:PASS@HOST:465.
        #[arg(long, env = "KAPSTONE_SMTP_URL", requires = "mail_from")]
        smtp_url: Option<String>,
        /// The sender address for those e-mails.
        #[arg(long, env = "KAPSTONE_MAIL_FROM")]
        mail_from: Option<String>,
        /// Log lines on stderr as text or json (one object a line); level from KAPSTONE_LOG.
        #[arg(
            long,
            env = "KAPSTONE_LOG_FORMAT",
            default_value = "text",
            value_name = "text|json"
        )]
        log_format: LogFormat,
        #[command(flatten)]
        backups: backup::ScheduleArgs,
        #[command(flatten)]
        anchors: anchor::AnchorArgs,
        /// A reverse proxy in front of kapstone (address or network, e.g. 10.0.0.0/8; repeat or
        /// separate by commas): from it, the client address in X-Forwarded-For is believed, so
        /// the per-address limits stay per client.
        #[arg(
            long = "trusted-proxy",
            env = "KAPSTONE_TRUSTED_PROXIES",
            value_delimiter = ',',
            value_name = "CIDR"
        )]
        trusted_proxies: Vec<String>,
        #[command(flatten)]
        keys: keys::KeyArgs,
    },
    /// Field encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Clinics.
    Clinic {
        #[command(subcommand)]
        command: ClinicCommand,
    },
    /// Staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Cohort outcomes from the clinic's records: baseline, eligibility, 1/3/6-month windows,
    /// response, remission, MCID, reliable improvement, outcomes after each dose, durability and
    /// subgroups, each with its definition, numerator and denominator.
    Report {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
        /// The clinic's id, when the database holds more than one.
        #[arg(long)]
        clinic: Option<String>,
        /// Re-run a published study's definitions: yermus-2023 or dore-2019.
        #[arg(long)]
        preset: Option<String>,
        /// json, csv, html (standalone, with charts) or pdf (with charts).
        #[arg(long, default_value = "json")]
        format: String,
        /// Write here instead of to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Back up every clinic to one encrypted file, consistently, while the server runs.
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        command: Option<BackupCommand>,
        #[command(flatten)]
        take: BackupArgs,
    },
    /// Restore a backup into an empty database (SQLite or PostgreSQL), then check every table
    /// and audit chain against its manifest.
    Restore {
        file: PathBuf,
        #[arg(long, env = "KAPSTONE_DB")]
        db: String,
        /// An age key file that can open the backup.
        #[arg(long, env = "KAPSTONE_BACKUP_IDENTITY")]
        identity: Option<PathBuf>,
    },
    /// Import historical records from DIR: patients.csv, courses.csv, doses.csv and
    /// assessments.csv (header row each). Every row is checked first; a bad row is reported as
    /// file:line: field: message and nothing is written.
    Import {
        dir: PathBuf,
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
        /// The staff member (e-mail) responsible for the import: the audit log names them.
        #[arg(long = "as")]
        by: String,
        /// The clinic's id, when the database holds more than one.
        #[arg(long)]
        clinic: Option<String>,
        /// Put the imported patients on this care team (created if it does not exist).
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        keys: keys::KeyArgs,
    },
}

#[derive(Subcommand)]
enum ClinicCommand {
    /// Create a clinic.
    Create {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
        #[arg(long)]
        name: String,
        /// IANA time zone, e.g. America/New_York.
        #[arg(long)]
        time_zone: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a staff member; prints their one-time set-up link.
    Add {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
        #[arg(long)]
        email: String,
        /// admin, prescriber, therapist, nurse or researcher.
        #[arg(long)]
        role: String,
        /// Display name (defaults to the e-mail address).
        #[arg(long)]
        name: Option<String>,
        /// The clinic's id, when the database holds more than one.
        #[arg(long)]
        clinic: Option<String>,
        /// Put the new member on this care team (created if it does not exist).
        #[arg(long)]
        team: Option<String>,
        #[arg(
            long,
            env = "KAPSTONE_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        public_url: String,
    },
    /// Every staff account of the clinic, with its role and whether it is active.
    List {
        #[command(flatten)]
        which: staff::Which,
    },
    /// Deactivate an account (someone left): every session ends at once, unused set-up links
    /// are withdrawn; their audit history and what they wrote stay.
    Deactivate {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        which: staff::Which,
    },
    /// Reactivate a deactivated account.
    Reactivate {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        which: staff::Which,
    },
    /// Reset the second factor (a lost phone): they enrol again at their next sign-in.
    ResetMfa {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        which: staff::Which,
    },
    /// End every session of the account.
    SignOut {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        which: staff::Which,
    },
}

#[derive(clap::Args)]
struct BackupArgs {
    /// Where to write the backup.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
    db: String,
    /// An age public key (age1…) that may open the backup; repeat for more than one.
    #[arg(long = "recipient", value_name = "AGE_PUBLIC_KEY")]
    recipients: Vec<String>,
    /// Write the backup compressed but not encrypted.
    #[arg(long)]
    unencrypted: bool,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Check a backup without touching any database: restore it into a scratch database,
    /// compare every table and audit chain with its manifest, then delete the scratch copy.
    Verify {
        file: PathBuf,
        #[arg(long, env = "KAPSTONE_BACKUP_IDENTITY")]
        identity: Option<PathBuf>,
    },
    /// Create an age key pair for backups: the private key goes to FILE, the public key
    /// (for --recipient) is printed.
    NewKey {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new field encryption key file (readable by its owner only).
    New {
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a new sealing key at the head of the key file and re-seal every encrypted value
    /// under it, while the server runs (it picks up the changed file).
    Rotate {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
        #[arg(long, env = "KAPSTONE_KEY_FILE", value_name = "FILE")]
        key_file: PathBuf,
        /// Then remove the old keys from the file (keep a copy for older backups).
        #[arg(long)]
        retire: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every clinic's hash chain; names the first broken event. With --anchor, also that
    /// every head anchored in the file is still in its chain (finds a cut or rolled-back log).
    Verify {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
        #[arg(long, env = "KAPSTONE_AUDIT_ANCHOR", value_name = "FILE")]
        anchor: Option<PathBuf>,
    },
    /// Append every clinic's audit-chain head to an anchor file kept off the database's disk.
    Anchor {
        #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
        db: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
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
        Command::Demo {
            db,
            patients,
            seed,
            addr,
            log_format,
        } => {
            start_logging(log_format)?;
            let lib = library(cli.instruments.as_deref())?;
            runtime()?.block_on(run_demo(&db, lib, patients, seed, addr))
        }
        Command::Serve {
            db,
            addr,
            public_url,
            smtp_url,
            mail_from,
            log_format,
            backups,
            anchors,
            trusted_proxies,
            keys,
        } => {
            start_logging(log_format)?;
            let schedule = backups.schedule()?;
            let anchoring = anchors.schedule()?;
            let trusted_proxies = kapstone_web::client_address::TrustedProxies(
                trusted_proxies
                    .iter()
                    .map(|n| n.parse())
                    .collect::<Result<_, String>>()
                    .map_err(|e| Failure::input(format!("--trusted-proxy: {e}")))?,
            );
            let keys = keys.required("serve")?;
            let lib = library(cli.instruments.as_deref())?;
            let mailer = match (smtp_url, mail_from) {
                (Some(url), Some(from)) => Some(
                    kapstone_app::mail::Mailer::new(&url, &from)
                        .map_err(|e| Failure::input(format!("--{e}")))?,
                ),
                _ => None,
            };
            runtime()?.block_on(serve(
                &db,
                lib,
                addr,
                public_url,
                mailer,
                ServeOptions {
                    schedule,
                    anchoring,
                    trusted_proxies,
                },
                keys,
            ))
        }
        Command::Clinic {
            command:
                ClinicCommand::Create {
                    db,
                    name,
                    time_zone,
                },
        } => runtime()?.block_on(clinic_create(&db, &name, &time_zone)),
        Command::User {
            command:
                UserCommand::Add {
                    db,
                    email,
                    role,
                    name,
                    clinic,
                    team,
                    public_url,
                },
        } => {
            let role = kapstone_clinical::vocab::Role::parse(&role)
                .map_err(|e| Failure::input(format!("--{e}")))?;
            let lib = library(cli.instruments.as_deref())?;
            runtime()?.block_on(user_add(
                &db, lib, &email, role, name, clinic, team, public_url,
            ))
        }
        Command::User {
            command: UserCommand::List { which },
        } => runtime()?.block_on(staff::list(which)),
        Command::User {
            command: UserCommand::Deactivate { email, which },
        } => runtime()?.block_on(staff::change(which, &email, StaffChange::Deactivate)),
        Command::User {
            command: UserCommand::Reactivate { email, which },
        } => runtime()?.block_on(staff::change(which, &email, StaffChange::Reactivate)),
        Command::User {
            command: UserCommand::ResetMfa { email, which },
        } => runtime()?.block_on(staff::change(which, &email, StaffChange::ResetSecondFactor)),
        Command::User {
            command: UserCommand::SignOut { email, which },
        } => runtime()?.block_on(staff::change(which, &email, StaffChange::EndSessions)),
        Command::Audit {
            command: AuditCommand::Verify { db, anchor },
        } => runtime()?.block_on(audit_verify(&db, anchor.as_deref())),
        Command::Audit {
            command: AuditCommand::Anchor { db, file },
        } => runtime()?.block_on(async {
            let store = open(&db).await?;
            anchor::anchor_once(store.as_ref(), &file).await
        }),
        Command::Report {
            db,
            clinic,
            preset,
            format,
            out,
        } => {
            let lib = library(cli.instruments.as_deref())?;
            runtime()?.block_on(report::run(
                &db,
                lib,
                clinic,
                preset.as_deref(),
                &format,
                out.as_deref(),
            ))
        }
        Command::Backup {
            command: Some(BackupCommand::Verify { file, identity }),
            ..
        } => runtime()?.block_on(backup::verify(&file, identity.as_deref())),
        Command::Backup {
            command: Some(BackupCommand::NewKey { out }),
            ..
        } => backup::new_key(&out),
        Command::Backup {
            command: None,
            take,
        } => {
            let out = take
                .out
                .ok_or_else(|| Failure::input("--out: where to write the backup is required"))?;
            let encryption = backup::encryption(&take.recipients, take.unencrypted)?;
            runtime()?.block_on(backup::backup(&take.db, &out, encryption))
        }
        Command::Keys {
            command: KeysCommand::New { out },
        } => keys::new(&out),
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    db,
                    key_file,
                    retire,
                },
        } => runtime()?.block_on(keys::rotate(&db, &key_file, retire)),
        Command::Restore { file, db, identity } => {
            runtime()?.block_on(backup::restore(&file, &db, identity.as_deref()))
        }
        Command::Import {
            dir,
            db,
            by,
            clinic,
            team,
            keys,
        } => {
            let lib = library(cli.instruments.as_deref())?;
            let keys = keys.required("import")?;
            runtime()?.block_on(import::import(&dir, &db, lib, &by, clinic, team, keys))
        }
    }
}

/// Only the server commands log: the others answer on stdout and stderr directly.
fn start_logging(format: LogFormat) -> Result<(), Failure> {
    kapstone_web::logging::init(format).map_err(Failure::input)
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

async fn open_with_keys(
    db: &str,
    keys: Arc<kapstone_keys::Keyring>,
) -> Result<Box<dyn kapstone_store::Store>, Failure> {
    kapstone_store::connect_with_keys(db, keys)
        .await
        .map_err(|e| match e {
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

async fn audit_verify(db: &str, anchor_file: Option<&std::path::Path>) -> Result<(), Failure> {
    let store = open(db).await?;
    let report = store.verify_audit_chain().await.map_err(|e| {
        Failure::other(format!(
            "{e} (has the database been created with `kapstone migrate`?)"
        ))
    })?;
    if let Some(b) = report.broken {
        return Err(Failure::other(format!("{b}")));
    }
    println!(
        "audit log intact: {} event(s) in {} clinic chain(s)",
        report.events, report.clinics
    );
    if let Some(file) = anchor_file {
        println!("{}", anchor::verify(store.as_ref(), file).await?);
    }
    Ok(())
}

async fn app(
    db: &str,
    lib: Library,
    public_url: String,
    keys: Option<Arc<kapstone_keys::Keyring>>,
) -> Result<kapstone_app::App, Failure> {
    app_with_mail(db, lib, public_url, None, keys).await
}

/// The application on the database; with keys, checked against the encrypted values first.
async fn app_with_mail(
    db: &str,
    lib: Library,
    public_url: String,
    mailer: Option<kapstone_app::mail::Mailer>,
    keys: Option<Arc<kapstone_keys::Keyring>>,
) -> Result<kapstone_app::App, Failure> {
    let store = match &keys {
        Some(k) => open_with_keys(db, k.clone()).await?,
        None => open(db).await?,
    };
    store
        .migrate()
        .await
        .map_err(|e| Failure::other(e.to_string()))?;
    if keys.is_some() {
        keys::start_up(store.as_ref()).await?;
    }
    let config = kapstone_app::Config {
        public_url,
        password_cost: Default::default(),
        mailer,
    };
    Ok(kapstone_app::App::new(
        Arc::from(store),
        Arc::new(lib),
        config,
    ))
}

/// Starts the backup schedule beside the server and lets admins see it.
fn with_scheduled_backups(
    app: kapstone_app::App,
    schedule: kapstone_backup::schedule::Schedule,
    db: &str,
) -> kapstone_app::App {
    let schedule = Arc::new(schedule);
    tokio::spawn(schedule.clone().run(app.store().clone(), db.to_string()));
    app.with_backups(schedule)
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    let host = rest.split(['/', ':']).next().unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

async fn run_demo(
    db: &str,
    lib: Library,
    patients: usize,
    seed: u64,
    addr: SocketAddr,
) -> Result<(), Failure> {
    // Bind first: with port 0, links must carry the port actually given.
    let listener = kapstone_web::bind(addr)
        .await
        .map_err(|e| Failure::other(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::other(e.to_string()))?;
    let public_url = format!("http://{bound}");
    let keys = keys::demo_keys(db)?;
    let app = app(db, lib, public_url.clone(), Some(keys)).await?;
    let started = std::time::Instant::now();
    match demo::existing(&app).await.map_err(Failure::other)? {
        Some(_) => println!(
            "Using the synthetic demo clinic already in {}",
            kapstone_store::redact_url(db)
        ),
        None => {
            println!(
                "Creating the synthetic demo clinic: {patients} synthetic patients (seed {seed})…"
            );
            let counts = demo::create(&app, patients, seed)
                .await
                .map_err(Failure::other)?;
            println!(
                "  wrote {} patients, {} courses, {} encounters, {} questionnaires, {} safety alerts in {:.1} s",
                counts.patients,
                counts.courses,
                counts.encounters,
                counts.assessments,
                counts.alerts,
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!();
    println!("kapstone demo — SYNTHETIC DATA, not real patients — serving {public_url}");
    println!(
        "Sign in with any of these accounts (password: {}):",
        demo::PASSWORD
    );
    for (email, _, role) in demo::STAFF {
        println!("  {:<11} {email}", role.as_str());
    }
    println!(
        "Two-step sign-in is switched off for this demo clinic only (Settings); a real clinic requires it for every role."
    );
    println!("Press Ctrl-C to stop.");
    let schedule = backup::demo_schedule(db)?;
    println!(
        "Backups of the demo clinic: daily into {} (encrypted to the key there)",
        schedule.dir.display()
    );
    let app = with_scheduled_backups(app, schedule, db);
    let web = kapstone_web::Web::new(app, true);
    tracing::info!(addr = %bound, "serving the synthetic demo");
    kapstone_web::serve_on(web, listener, shutdown::signal())
        .await
        .map_err(|e| Failure::other(e.to_string()))?;
    tracing::info!("stopped");
    Ok(())
}

/// What runs beside the server (scheduled backups, anchoring the audit chains) and the
/// proxies in front of it.
struct ServeOptions {
    schedule: Option<kapstone_backup::schedule::Schedule>,
    anchoring: Option<(PathBuf, std::time::Duration)>,
    trusted_proxies: kapstone_web::client_address::TrustedProxies,
}

async fn serve(
    db: &str,
    lib: Library,
    addr: SocketAddr,
    public_url: Option<String>,
    mailer: Option<kapstone_app::mail::Mailer>,
    options: ServeOptions,
    keys: Arc<kapstone_keys::Keyring>,
) -> Result<(), Failure> {
    let public_url = public_url.unwrap_or_else(|| format!("http://{addr}"));
    if !public_url.starts_with("https://") && !is_loopback_url(&public_url) {
        return Err(Failure::input(format!(
            "--public-url: {public_url} is plain http on a network address; serve kapstone behind TLS and give its https:// address"
        )));
    }
    let mut app = app_with_mail(db, lib, public_url.clone(), mailer, Some(keys)).await?;
    if let Some(schedule) = options.schedule {
        app = with_scheduled_backups(app, schedule, db);
    }
    if let Some((file, every)) = options.anchoring {
        tokio::spawn(anchor::run(app.store().clone(), file, every));
    }
    let listener = kapstone_web::bind(addr)
        .await
        .map_err(|e| Failure::other(format!("cannot listen on {addr}: {e}")))?;
    // With port 0 the system picks the port: say which one.
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::other(e.to_string()))?;
    println!("kapstone serving {public_url} (listening on {bound})");
    tracing::info!(addr = %bound, backend = app.store().backend(), "serving");
    kapstone_web::serve_on(
        kapstone_web::Web::behind(app, false, options.trusted_proxies),
        listener,
        shutdown::signal(),
    )
    .await
    .map_err(|e| Failure::other(e.to_string()))?;
    tracing::info!("stopped");
    Ok(())
}

async fn clinic_create(db: &str, name: &str, time_zone: &str) -> Result<(), Failure> {
    let store = open(db).await?;
    store
        .migrate()
        .await
        .map_err(|e| Failure::other(e.to_string()))?;
    let clinic = store
        .create_clinic(
            &kapstone_store::model::NewClinic {
                name: name.into(),
                time_zone: time_zone.into(),
            },
            "cli",
        )
        .await
        .map_err(|e| match e {
            kapstone_store::StoreError::Invalid { .. } => Failure::input(format!("--{e}")),
            other => Failure::other(other.to_string()),
        })?;
    println!("created clinic {} ({})", clinic.name, clinic.id);
    Ok(())
}

/// The clinic a command acts on: the one given, or the only one there is.
pub(crate) async fn pick_clinic(
    store: &dyn kapstone_store::Store,
    clinic: Option<String>,
) -> Result<kapstone_store::model::Clinic, Failure> {
    let clinics = store
        .clinics()
        .await
        .map_err(|e| Failure::other(e.to_string()))?;
    match (clinic, clinics.as_slice()) {
        (Some(id), _) => clinics
            .iter()
            .find(|c| c.id.to_string() == id)
            .cloned()
            .ok_or_else(|| Failure::input(format!("--clinic: no clinic {id}"))),
        (None, [one]) => Ok(one.clone()),
        (None, []) => Err(Failure::input(
            "no clinic yet: run `kapstone clinic create --name NAME --time-zone TZ` first",
        )),
        (None, _) => Err(Failure::input(
            "--clinic: the database holds several clinics; give the clinic's id",
        )),
    }
}

#[allow(clippy::too_many_arguments)] // one per command-line option
async fn user_add(
    db: &str,
    lib: Library,
    email: &str,
    role: kapstone_clinical::vocab::Role,
    name: Option<String>,
    clinic: Option<String>,
    team: Option<String>,
    public_url: String,
) -> Result<(), Failure> {
    let app = app(db, lib, public_url, None).await?;
    let clinic = &pick_clinic(app.store().as_ref(), clinic).await?;
    let ctx = kapstone_store::model::AuditContext {
        clinic_id: clinic.id,
        actor: kapstone_store::model::Actor::System,
        origin: "cli".into(),
    };
    let name = name.unwrap_or_else(|| email.to_string());
    let (user, link) = app
        .add_staff(&ctx, email, &name, role)
        .await
        .map_err(|e| match e {
            kapstone_app::AppError::Invalid { .. } | kapstone_app::AppError::Conflict(_) => {
                Failure::input(e.to_string())
            }
            other => Failure::other(other.to_string()),
        })?;
    println!("added {} ({}) to {}", user.email, user.role, clinic.name);
    if let Some(team) = team {
        let store = app.store();
        let teams = store
            .teams(clinic.id)
            .await
            .map_err(|e| Failure::other(e.to_string()))?;
        let t = match teams.into_iter().find(|t| t.name == team.trim()) {
            Some(t) => t,
            None => store
                .create_team(&ctx, &team)
                .await
                .map_err(|e| Failure::input(format!("--team: {e}")))?,
        };
        store
            .add_team_member(&ctx, t.id, user.id)
            .await
            .map_err(|e| Failure::other(e.to_string()))?;
        println!("on care team {}", t.name);
    }
    println!("one-time set-up link (valid 72 hours): {link}");
    Ok(())
}
