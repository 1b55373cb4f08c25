//! The field encryption key as an operator meets it: serve needs one; a database refuses a key
//! that lacks, or is not, the key its values were sealed with, naming it; rotation re-seals
//! every value under a new key and retires the old.

mod support;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use support::{kapstone_keyless as kapstone, ok};

/// Starts `kapstone serve` with `key`: `Ok` once it listens, `Err(stderr)` if it refuses.
fn serve(db: &str, key: Option<&Path>) -> Result<(), String> {
    let mut args = vec!["serve", "--db", db, "--addr", "127.0.0.1:0"];
    if let Some(k) = key {
        args.extend(["--key-file", k.to_str().expect("path")]);
    }
    let mut child = support::keyless()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stdout = child.stdout.take().expect("stdout");
    let listening = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("listening on"));
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    if listening {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn keys_are_required_checked_by_id_and_rotated() {
    let dir = std::env::temp_dir().join(format!("kapstone-keys-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("csv")).expect("dir");
    let db = format!("sqlite://{}", dir.join("clinic.db").display());
    let key = dir.join("clinic.keys");
    let key_arg = key.to_str().expect("path");
    ok(&kapstone(&["keys", "new", "--out", key_arg]));
    ok(&kapstone(&[
        "clinic",
        "create",
        "--db",
        &db,
        "--name",
        "Keyed",
        "--time-zone",
        "UTC",
    ]));
    ok(&kapstone(&[
        "user",
        "add",
        "--db",
        &db,
        "--email",
        "admin@keyed.test",
        "--role",
        "admin",
    ]));
    for (name, text) in [
        (
            "patients.csv",
            "patient_id,given_name,family_name,birth_date,sex,postal_code,email,phone\n\
             P-1,Ada,Lovelace,1985-12-10,female,80202,ada@example.org,555-0101\n\
             P-2,Alan,Turing,1979-02-01,male,80203,,\n",
        ),
        (
            "courses.csv",
            "course_id,patient_id,indication,route,start_date\n",
        ),
        ("doses.csv", "course_id,date,route,dose_mg,weight_kg\n"),
        (
            "assessments.csv",
            "course_id,date,instrument,answers,total\n",
        ),
    ] {
        std::fs::write(dir.join("csv").join(name), text).expect("csv");
    }
    let csv = dir.join("csv");
    let csv_arg = csv.to_str().expect("path");
    let e = kapstone(&["import", csv_arg, "--db", &db, "--as", "admin@keyed.test"]);
    assert_eq!(e.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&e.stderr).contains("--key-file"));
    ok(&kapstone(&[
        "import",
        csv_arg,
        "--db",
        &db,
        "--as",
        "admin@keyed.test",
        "--key-file",
        key_arg,
    ]));

    let e = serve(&db, None).expect_err("no key");
    assert!(e.contains("--key-file"), "{e}");
    serve(&db, Some(&key)).expect("the right key");

    let old = dir.join("old.keys");
    std::fs::copy(&key, &old).expect("copy");
    let said = ok(&kapstone(&[
        "keys",
        "rotate",
        "--db",
        &db,
        "--key-file",
        key_arg,
        "--retire",
    ]));
    assert!(said.contains("re-sealed 4 value(s)"), "{said}");
    let new_id = said
        .split("new sealing key ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .expect("new id")
        .to_string();
    let file = std::fs::read_to_string(&key).expect("key file");
    let ids: Vec<&str> = file
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(ids, [new_id.as_str()], "the old key is retired");

    let e = serve(&db, Some(&old)).expect_err("the old key alone");
    assert!(
        e.contains(&format!(
            "encrypted with key {new_id}, which the key given does not hold"
        )),
        "{e}"
    );
    let wrong = dir.join("wrong.keys");
    std::fs::write(&wrong, format!("{new_id} {}\n", "11".repeat(32))).expect("wrong");
    let e = serve(&db, Some(&wrong)).expect_err("a wrong key with the right id");
    assert!(e.contains("wrong key file"), "{e}");
    serve(&db, Some(&key)).expect("the rotated key");
}
