//! kapstone's use cases: every action a person can take, each doing authorization, the write,
//! alerts and the audit event in one place. Shared by the web app and the command line; the web
//! layer reaches storage only through here.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod backups;
pub mod clinic;
pub mod cohort;
pub mod crypto;
mod error;
pub mod import;
pub mod mail;
pub mod policy;
pub mod portal;
pub mod record;

pub use error::AppError;
pub use kapstone_clinical as clinical;
pub use kapstone_store::model;
pub use kapstone_store::{PendingGrant, StaffChange};

use crypto::{PasswordCost, Passwords};
use kapstone_clinical::instrument::Library;
use kapstone_store::Store;
use std::sync::Arc;

/// How the application is assembled; built once at start-up (no globals).
#[derive(Clone)]
pub struct Config {
    /// The address staff and patients reach kapstone at, for links (`https://clinic.example.org`).
    pub public_url: String,
    pub password_cost: PasswordCost,
    /// The clinic's mail server; without one, links are copied rather than e-mailed.
    pub mailer: Option<mail::Mailer>,
}

#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    library: Arc<Library>,
    passwords: Passwords,
    config: Config,
    backups: Option<Arc<kapstone_backup::schedule::Schedule>>,
}

impl App {
    pub fn new(store: Arc<dyn Store>, library: Arc<Library>, config: Config) -> App {
        App {
            store,
            library,
            passwords: Passwords::new(config.password_cost),
            config,
            backups: None,
        }
    }

    /// The server takes scheduled backups as `schedule` says; admins see their status.
    pub fn with_backups(mut self, schedule: Arc<kapstone_backup::schedule::Schedule>) -> App {
        self.backups = Some(schedule);
        self
    }

    pub fn library(&self) -> &Library {
        &self.library
    }

    /// Whether questionnaire links can be e-mailed (a mail server is configured).
    pub fn can_email(&self) -> bool {
        self.config.mailer.is_some()
    }

    pub fn public_url(&self) -> &str {
        &self.config.public_url
    }

    /// Storage, for the command line's operator tasks (migrate, verify) and for tests that set up
    /// a world. Not for request handling: the web layer goes through the use cases.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
