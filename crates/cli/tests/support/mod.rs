//! Running the kapstone binary from the CLI tests, with none of the caller's settings leaking in.

#![allow(dead_code)] // each test file uses its own part

pub mod portal;

use std::process::{Command, Output};

/// A `kapstone` command with the tests' field key in the environment and no other settings.
pub fn command() -> Command {
    let mut c = keyless();
    c.env("KAPSTONE_KEYS", kapstone_store::testing::TEST_KEYS);
    c
}

/// A `kapstone` command with no key and no other settings from the environment.
pub fn keyless() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kapstone"));
    for setting in [
        "KAPSTONE_DB",
        "KAPSTONE_KEYS",
        "KAPSTONE_KEY_FILE",
        "KAPSTONE_BACKUP_IDENTITY",
        "KAPSTONE_INSTRUMENTS",
    ] {
        c.env_remove(setting);
    }
    c
}

pub fn kapstone(args: &[&str]) -> Output {
    command().args(args).output().expect("run kapstone")
}

pub fn kapstone_keyless(args: &[&str]) -> Output {
    keyless().args(args).output().expect("run kapstone")
}

/// Its standard output, after checking it succeeded.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
