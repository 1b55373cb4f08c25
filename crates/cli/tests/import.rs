//! `kapstone import DIR` on both backends: good files are imported and scored; a bad row is
//! reported as file:line: field and leaves the database exactly as it was.

mod support;
use kapstone_store::model::*;
use kapstone_store::{Store, testing};
use std::path::Path;
use std::process::Command;
use support::{kapstone, ok};

const PATIENTS: &str = "patient_id,given_name,family_name,birth_date,sex,postal_code,email,phone
L-1,Ada,Lovelace,1985-12-10,female,80202,ada@example.org,
L-2,\"O'Neil, Jr\",Smith,1979-02-01,male,80203,,
";
const COURSES: &str = "course_id,patient_id,indication,route,start_date
C-1,L-1,ptsd,sublingual,2025-01-06
C-2,L-2,mdd,intranasal_esketamine,2025-02-03
";
const DOSES: &str = "course_id,date,route,dose_mg,weight_kg
C-1,2025-01-13,sublingual,100,70
C-1,2025-01-20,sublingual,150,70
C-2,2025-02-10,intranasal_esketamine,56,82
";
const ASSESSMENTS: &str = "course_id,date,instrument,answers,total
C-1,2025-01-10,phq9,2;2;2;2;2;2;2;2;1,17
C-1,2025-04-14,phq9,1;1;1;0;0;0;0;0;0,
C-1,2025-01-10,pcl5,,52
C-2,2025-02-01,gad7,,15
";

fn write(dir: &Path, assessments: &str) {
    std::fs::create_dir_all(dir).expect("dir");
    for (name, text) in [
        ("patients.csv", PATIENTS),
        ("courses.csv", COURSES),
        ("doses.csv", DOSES),
        ("assessments.csv", assessments),
    ] {
        std::fs::write(dir.join(name), text).expect("write");
    }
}

async fn imports(url: &str, store: &dyn Store) {
    ok(&kapstone(&[
        "clinic",
        "create",
        "--db",
        url,
        "--name",
        "Legacy",
        "--time-zone",
        "America/Denver",
    ]));
    ok(&kapstone(&[
        "user",
        "add",
        "--db",
        url,
        "--email",
        "admin@legacy.test",
        "--role",
        "admin",
    ]));
    let tmp = std::env::temp_dir().join(format!("kapstone-import-{}", uuid::Uuid::now_v7()));

    // A PHQ-9 with an answer of 7 on item 3: refused with file, line and field, nothing written.
    let bad = ASSESSMENTS.replace("1;1;1;0;0;0;0;0;0", "1;1;7;0;0;0;0;0;0");
    write(&tmp.join("bad"), &bad);
    let before = kapstone(&["audit", "verify", "--db", url]);
    let out = kapstone(&[
        "import",
        tmp.join("bad").to_str().expect("path"),
        "--db",
        url,
        "--as",
        "admin@legacy.test",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("assessments.csv:3: answers[3]:"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    let after = kapstone(&["audit", "verify", "--db", url]);
    assert_eq!(ok(&before), ok(&after), "the audit log did not move");

    // An unknown course id, a bad date and a missing weight are named the same way.
    for (file, text, expected) in [
        (
            "doses.csv",
            DOSES.replace("C-2,2025-02-10", "C-9,2025-02-10"),
            "doses.csv:4: course_id: 'C-9' is not in courses.csv",
        ),
        (
            "courses.csv",
            COURSES.replace("2025-02-03", "2025-02-30"),
            "courses.csv:3: start_date: '2025-02-30' is not a date",
        ),
        (
            "doses.csv",
            DOSES.replace("150,70", "150,"),
            "doses.csv:3: weight_kg: is required",
        ),
    ] {
        let dir = tmp.join(file.replace('.', "-"));
        write(&dir, ASSESSMENTS);
        std::fs::write(dir.join(file), text).expect("write");
        let out = kapstone(&[
            "import",
            dir.to_str().expect("path"),
            "--db",
            url,
            "--as",
            "admin@legacy.test",
        ]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{err}");
    }

    write(&tmp.join("good"), ASSESSMENTS);
    let run = kapstone(&[
        "import",
        tmp.join("good").to_str().expect("path"),
        "--db",
        url,
        "--as",
        "admin@legacy.test",
        "--team",
        "Imported",
    ]);
    let out = ok(&run);
    let progress = String::from_utf8_lossy(&run.stderr);
    assert!(
        progress.contains("[1/2] checking [########################] 100 % 11 of 11 rows")
            && progress.contains(
                "[2/2] writing (one transaction) [########################] 100 % 2 of 2 patients"
            ),
        "both phases end on a full bar: {progress}"
    );
    assert!(
        out.contains("imported 2 patients, 2 courses, 3 dosing sessions, 4 assessments"),
        "{out}"
    );

    let clinic = store.clinics().await.expect("clinics")[0].clone();
    let ctx = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::System,
        origin: "test".into(),
    };
    let found = store
        .find_patients(&ctx, Scope::Clinic, "", 10)
        .await
        .expect("patients");
    assert_eq!(found.len(), 2);
    let ada = found
        .iter()
        .find(|p| p.mrn == "L-1")
        .expect("L-1 keeps its id as record number");
    let list = store
        .assessments_of(&ctx, ada.id)
        .await
        .expect("assessments");
    let phq: Vec<(Option<f64>, usize)> = list
        .iter()
        .filter(|a| a.instrument == "phq9")
        .map(|a| (a.total, a.answers.len()))
        .collect();
    // Ten stored answers: the nine given and the unscored difficulty item, unanswered.
    assert_eq!(
        phq,
        [(Some(17.0), 10), (Some(3.0), 10)],
        "scored from the answers"
    );
    let pcl = list.iter().find(|a| a.instrument == "pcl5").expect("pcl5");
    assert_eq!(
        (pcl.total, pcl.answers.len()),
        (Some(52.0), 0),
        "a legacy total alone"
    );
    assert_eq!(pcl.interpretation["total_only"], true);
    let courses = store.courses_of(&ctx, ada.id).await.expect("courses");
    let encounters = store
        .encounters(&ctx, courses[0].id)
        .await
        .expect("encounters");
    let record = store
        .encounter_record(&ctx, encounters[1].id)
        .await
        .expect("record");
    assert_eq!(record.administrations[0].dose.dose_mg, 150.0);
    assert_eq!(
        record.administrations[0].given_by, None,
        "the records do not say who"
    );
    assert_eq!(
        store.verify_audit_chain().await.expect("verify").broken,
        None
    );
    let yermus: serde_json::Value = serde_json::from_str(&ok(&kapstone(&[
        "report",
        "--db",
        url,
        "--preset",
        "yermus-2023",
    ])))
    .expect("json");
    assert_eq!(yermus["definitions"]["name"], "yermus-2023");
    assert!(yermus["instruments"].get("pcl5").is_none());
    let bad = kapstone(&["report", "--db", url, "--preset", "kew-2023"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("allowed values: yermus-2023, dore-2019")
    );
    documents(url, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The HTML and PDF reports carry the same numbers as the JSON: C-1's PHQ-9 fell from 17 to 3
/// at three months, so 1 of 1 responded.
fn documents(url: &str, tmp: &Path) {
    let html = tmp.join("report.html");
    ok(&kapstone(&[
        "report",
        "--db",
        url,
        "--format",
        "html",
        "--out",
        html.to_str().expect("utf-8"),
    ]));
    let html = std::fs::read_to_string(html).expect("html");
    for needle in [
        "<h2>PHQ-9</h2>",
        "1 of 1 (100 %)",
        "Waterfall",
        "Attrition",
        "Kaplan",
        "id=\"definitions\"",
    ] {
        assert!(html.contains(needle), "the HTML report lacks {needle}");
    }
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "standalone, no scripts"
    );
    assert!(
        !html.contains("Synthetic data"),
        "imported records are not synthetic"
    );

    let pdf = tmp.join("report.pdf");
    ok(&kapstone(&[
        "report",
        "--db",
        url,
        "--format",
        "pdf",
        "--out",
        pdf.to_str().expect("utf-8"),
    ]));
    // Poppler and qpdf read the file independently of the writer (scripts/test.sh installs them).
    let check = Command::new("qpdf")
        .arg("--check")
        .arg(&pdf)
        .output()
        .expect("qpdf (Debian: qpdf)");
    assert!(
        check.status.success(),
        "qpdf --check: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    let text = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (Debian: poppler-utils)");
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "Outcome report",
        "PHQ-9",
        "1 of 1 (100 %)",
        "Durability of response",
        "Definitions",
        "page 1 of",
    ] {
        assert!(text.contains(needle), "the PDF lacks {needle}:\n{text}");
    }

    let bad = kapstone(&["report", "--db", url, "--format", "docx"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("--format: 'docx' is not a format; allowed values: json, csv, html, pdf")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_on_sqlite() {
    let url = testing::sqlite_url();
    let store = kapstone_store::connect_with_keys(&url, testing::test_keys())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    imports(&url, store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_on_postgres() {
    let url = testing::postgres_url().await;
    let store = kapstone_store::connect_with_keys(&url, testing::test_keys())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    imports(&url, store.as_ref()).await;
}
