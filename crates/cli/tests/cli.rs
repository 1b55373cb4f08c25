//! The `kapstone` binary as a user runs it: outputs, exit codes and messages.

use std::process::{Command, Output};

fn kapstone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kapstone"))
        .args(args)
        .env_remove("KAPSTONE_INSTRUMENTS")
        .env_remove("KAPSTONE_DB")
        .output()
        .expect("run kapstone")
}

fn score_json(instrument: &str, answers: &str) -> serde_json::Value {
    let out = kapstone(&["score", instrument, "--answers", answers, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        text.trim().lines().count(),
        1,
        "exactly one JSON object: {text}"
    );
    serde_json::from_str(&text).expect("json")
}

fn refused(args: &[&str]) -> String {
    let out = kapstone(args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).expect("utf-8")
}

#[test]
fn score_json_has_the_documented_keys() {
    let v = score_json("phq9", "3,3,3,3,3,0,0,0,0");
    assert_eq!(v["instrument"], "phq9");
    assert_eq!(v["complete"], true);
    assert_eq!(v["total"], 15);
    assert_eq!(v["severity"], "moderately_severe");
    assert_eq!(v["subscales"], serde_json::Value::Null);
    assert_eq!(v["flags"], serde_json::json!([]));
    assert!(
        v.get("risk").is_none()
            && v.get("provisional_ptsd").is_none()
            && v.get("screen_positive").is_none()
    );

    let hama = score_json("hama", "4,4,4,4,4,4,0,0,0,0,0,0,0,4");
    assert_eq!(
        hama["subscales"],
        serde_json::json!({"psychic": 28, "somatic": 0})
    );
    assert_eq!(hama["severity"], "severe");

    let pcl = score_json("pcl5", "4,4,4,4,4,0,1,4,4,4,4,4,4,4,4,4,4,4,4,4");
    assert_eq!(pcl["provisional_ptsd"], false);
    assert_eq!(pcl["severity"], serde_json::Value::Null);
    assert_eq!(
        pcl["subscales"],
        serde_json::json!({"B": 20, "C": 1, "D": 28, "E": 24})
    );

    assert_eq!(score_json("phq2", "2,1")["screen_positive"], true);
    assert_eq!(score_json("gad2", "1,1")["screen_positive"], false);
    assert_eq!(score_json("ebi", "10,20,30,40,50,60")["total"], 35.0);
}

#[test]
fn score_incomplete_forms_and_asq_branches() {
    let v = score_json("phq9", "-,0,0,0,0,0,0,0,2");
    assert_eq!(v["complete"], false);
    assert_eq!(v["total"], serde_json::Value::Null);
    assert_eq!(v["severity"], serde_json::Value::Null);
    assert_eq!(v["flags"], serde_json::json!(["phq9_item9"]));

    let neg = score_json("asq", "0,0,0,0");
    assert_eq!(
        (neg["risk"].clone(), neg["complete"].clone()),
        (serde_json::json!("negative"), serde_json::json!(true))
    );
    let acute = score_json("asq", "0,0,1,0,1");
    assert_eq!(acute["risk"], "acute_positive");
    assert_eq!(
        acute["flags"],
        serde_json::json!(["asq_positive", "asq_acute"])
    );
    assert_eq!(score_json("asq", "0,0,1,0,0")["risk"], "non_acute_positive");
    let unknown = score_json("asq", "0,0,1,0");
    assert_eq!(
        (unknown["complete"].clone(), unknown["risk"].clone()),
        (serde_json::json!(false), serde_json::Value::Null)
    );
    assert_eq!(unknown["flags"], serde_json::json!(["asq_positive"]));
}

#[test]
fn score_text_summary_says_what_matters() {
    let out = kapstone(&["score", "phq9", "--answers", "1,-,1,0,2,1,0,1,1"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("INCOMPLETE") && text.contains("item(s) 2"),
        "{text}"
    );
    assert!(text.contains("FLAG phq9_item9"), "{text}");
}

#[test]
fn bad_input_exits_2_and_names_the_item_and_allowed_values() {
    let e = refused(&["score", "phq10", "--answers", "0"]);
    assert!(
        e.contains("instrument: 'phq10' is not in the library; allowed values: phq9, phq2"),
        "{e}"
    );
    let e = refused(&["score", "gad7", "--answers", "0,0,0"]);
    assert!(
        e.contains("gad7 expects 7 to 8 answers") && e.contains("got 3"),
        "{e}"
    );
    let e = refused(&[
        "score",
        "pcl5",
        "--answers",
        "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,5",
    ]);
    assert!(
        e.contains("pcl5 item 20 (Trouble falling or staying asleep?): 5 is not an allowed answer"),
        "{e}"
    );
    assert!(e.contains("allowed values: 0 (Not at all), 1 (A little bit), 2 (Moderately), 3 (Quite a bit), 4 (Extremely)"), "{e}");
    let e = refused(&["score", "ace", "--answers", "0,0,yes,0,0,0,0,0,0,0"]);
    assert!(
        e.contains("ace item 3")
            && e.contains("'yes' is not a number")
            && e.contains("0 (No), 1 (Yes)"),
        "{e}"
    );
    let e = refused(&["score", "phq9", "--answers", "0,0,0,0,0,0,0,0,1.5"]);
    assert!(
        e.contains("item 9") && e.contains("'1.5' is not a number"),
        "{e}"
    );
}

#[test]
fn instruments_lists_the_library() {
    let out = kapstone(&["instruments", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "phq9", "phq2", "gad7", "gad2", "pcl5", "hama", "asq", "ace", "cadss6", "ebi"
        ]
    );
    assert_eq!(v[0]["loinc"]["total"], "44261-6");
    let text = String::from_utf8(kapstone(&["instruments"]).stdout).expect("utf-8");
    assert!(
        text.contains("cadss6") && text.contains("labels_only"),
        "{text}"
    );
}

#[test]
fn a_clinic_instrument_directory_is_checked_at_start_up() {
    let dir =
        std::env::temp_dir().join(format!("kapstone-instr-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let wording: String = (1..=6)
        .map(|n| format!("{{ number = {n}, text = \"Licensed item {n}\" }},"))
        .collect();
    std::fs::write(
        dir.join("ebi.wording.toml"),
        format!("instrument = \"ebi\"\nitems = [{wording}]\n"),
    )
    .expect("write");
    let out = kapstone(&[
        "--instruments",
        dir.to_str().expect("utf-8"),
        "instruments",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[9]["wording"], "clinic_supplied");
    assert_eq!(v[9]["items"][0]["text"], "Licensed item 1");

    std::fs::write(
        dir.join("broken.toml"),
        "id = \"broken\"\nversion = \"1\"\n",
    )
    .expect("write");
    let e = refused(&[
        "--instruments",
        dir.to_str().expect("utf-8"),
        "score",
        "phq9",
        "--answers",
        "0,0,0,0,0,0,0,0,0",
    ]);
    assert!(
        e.contains("instrument file broken.toml: toml:") && e.contains("missing field"),
        "{e}"
    );
}

#[test]
fn an_unknown_database_scheme_is_refused() {
    let e = refused(&["migrate", "--db", "mysql://root@localhost/kapstone"]);
    assert!(
        e.contains("--db: database URL: 'mysql://root:***@localhost/kapstone' is not supported"),
        "{e}"
    );
}
