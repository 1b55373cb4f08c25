//! HTTP-level tests of the clinical record, each on SQLite and on PostgreSQL: a signed
//! encounter refuses every write path of the pages and of the API; bad dosing input is named
//! and nothing is saved; psychotherapy notes appear on no page or response but their author's
//! own notes page.

mod support;

use axum::http::{Method, StatusCode};
use jiff::{SignedDuration, Timestamp};
use kapstone_app::clinical::dosing::screening::CONDITIONS;
use kapstone_app::clinical::vocab::Role;
use kapstone_app::model::*;
use kapstone_store::Store;
use std::sync::Arc;
use support::*;

/// A clinic-local `datetime-local` value `minutes` ago.
async fn ago(w: &World, minutes: i64) -> String {
    let clinic = w.app.clinic(w.clinic).await.expect("clinic");
    let tz = jiff::tz::TimeZone::get(&clinic.time_zone).expect("tz");
    (Timestamp::now() - SignedDuration::from_mins(minutes))
        .to_zoned(tz)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// Signs screening and moves the fixture's course to active; returns the first dosing session.
async fn active_course(doc: &mut Member, fx: &Fixture) -> String {
    let csrf = doc.csrf().await;
    let base = format!("/patients/{}/courses/{}", fx.patient, fx.course);
    let mut form: Vec<(String, String)> = CONDITIONS
        .iter()
        .map(|c| (format!("c.{}", c.id), "no".to_string()))
        .collect();
    for (k, v) in [
        ("csrf", csrf.as_str()),
        ("pregnancy_status", "not_pregnant"),
        ("weight_kg", "80"),
        ("systolic", "124"),
        ("diastolic", "80"),
        ("heart_rate", "70"),
        ("decision", "eligible"),
    ] {
        form.push((k.into(), v.into()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = doc.client.post(&format!("{base}/screening"), &pairs).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    for to in ["preparation", "active"] {
        let r = doc
            .client
            .post(&format!("{base}/status"), &[("csrf", &csrf), ("to", to)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{to}: {}", r.body);
    }
    let page = doc.client.get(&base).await;
    let i = page
        .body
        .find("\">dosing 1<")
        .expect("a first dosing session");
    page.body[i - 36..i].to_string()
}

fn enc_path(fx: &Fixture, e: &str, action: &str) -> String {
    format!("/patients/{}/encounters/{e}/{action}", fx.patient)
}

async fn record_json(doc: &mut Member, fx: &Fixture, e: &str) -> serde_json::Value {
    let r = doc
        .client
        .get(&format!("/api/patients/{}/encounters/{e}", fx.patient))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    serde_json::from_str(&r.body).expect("json")
}

async fn api(doc: &mut Member, path: &str, body: serde_json::Value, csrf: &str) -> Page {
    doc.client
        .send(
            Method::POST,
            path,
            Some(body.to_string()),
            &[("x-csrf-token", csrf)],
        )
        .await
}

async fn setup(store: Arc<dyn Store>) -> (World, Member, Fixture, String) {
    let w = World::new(store).await;
    let team = w.team("Dosing").await;
    let mut doc = w
        .member("doc@clinic.test", "Dr Doc", Role::Prescriber, Some(team))
        .await;
    let fx = doc.patient_with_alert(&w, "Ada", "Lovelace").await;
    let e = active_course(&mut doc, &fx).await;
    (w, doc, fx, e)
}

/// Every write path — page form and API — refuses a signed encounter, and nothing changes.
async fn a_signed_encounter_refuses_every_write(store: Arc<dyn Store>) {
    let (w, mut doc, fx, e) = setup(store).await;
    let csrf = doc.csrf().await;
    let start = ago(&w, 170).await;
    let steps: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "start",
            vec![
                ("systolic", "128".into()),
                ("diastolic", "82".into()),
                ("fasting", "on".into()),
                ("escort_confirmed", "on".into()),
                ("started_at", start.clone()),
            ],
        ),
        (
            "doses",
            vec![
                ("drug", "racemic_ketamine".into()),
                ("route", "sublingual".into()),
                ("formulation", "rapid_dissolving_tablet".into()),
                ("dose_mg", "100".into()),
                ("weight_kg", "80".into()),
                ("given_at", ago(&w, 160).await),
            ],
        ),
        (
            "vitals",
            vec![
                ("systolic", "130".into()),
                ("diastolic", "84".into()),
                ("taken_at", ago(&w, 150).await),
            ],
        ),
        (
            "observations",
            vec![
                ("measure", "moaas".into()),
                ("value", "4".into()),
                ("observed_at", ago(&w, 140).await),
            ],
        ),
        (
            "adverse-events",
            vec![
                ("term", "nausea".into()),
                ("severity", "mild".into()),
                ("onset_minutes", "30".into()),
                ("action", "observed".into()),
                ("outcome", "resolved".into()),
            ],
        ),
        (
            "cadss6",
            (1..=6)
                .map(|i| {
                    (
                        ["item1", "item2", "item3", "item4", "item5", "item6"][i - 1],
                        "1".to_string(),
                    )
                })
                .chain([("administered_at", ago(&w, 130).await)])
                .collect(),
        ),
        ("note", vec![("note", "Session went as planned.".into())]),
        (
            "discharge",
            vec![
                ("criteria_met", "on".into()),
                ("escort_name", "Sam".into()),
                ("no_driving_advice", "on".into()),
                ("discharged_at", ago(&w, 0).await),
            ],
        ),
        ("sign", vec![]),
    ];
    for (action, fields) in &steps {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let r = doc.client.post(&enc_path(&fx, &e, action), &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.body);
    }
    let before = record_json(&mut doc, &fx, &e).await;
    assert!(before["signed_at"].is_string());
    assert_eq!(before["administrations"][0]["mg_per_kg"], 1.25);

    // The same writes again, by the page and by the API: each refused as locked.
    for (action, fields) in &steps {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let r = doc.client.post(&enc_path(&fx, &e, action), &form).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "page {action}: {}", r.body);
        assert!(
            r.body.contains("locked") || r.body.contains("discharged"),
            "page {action}: {}",
            r.body
        );
        let json: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
            .collect();
        let r = api(
            &mut doc,
            &format!("/api{}", enc_path(&fx, &e, action)),
            serde_json::Value::Object(json),
            &csrf,
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "api {action}: {}", r.body);
        assert!(
            r.body.contains("\"code\":\"conflict\""),
            "api {action}: {}",
            r.body
        );
    }
    assert_eq!(
        record_json(&mut doc, &fx, &e).await,
        before,
        "nothing changed"
    );

    // Addenda are the one way to add to a signed encounter, shown with who and when.
    let r = doc
        .client
        .post(
            &enc_path(&fx, &e, "addenda"),
            &[
                ("csrf", &csrf),
                ("addendum", "Called the next day: slept well."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = api(
        &mut doc,
        &format!("/api{}", enc_path(&fx, &e, "addenda")),
        serde_json::json!({"addendum": "Second addendum."}),
        &csrf,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let page = doc
        .client
        .get(&format!("/patients/{}/encounters/{e}", fx.patient))
        .await;
    assert!(page.body.contains("Called the next day: slept well."));
    assert!(page.body.contains("This encounter is locked"));
    assert_eq!(
        record_json(&mut doc, &fx, &e).await["addenda"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

/// One refused entry: action, fields, the field named, and the message shown.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

/// A blood pressure of 400/20, a dose without a weight and a time before the session began are
/// each refused with the field named, by the page and by the API, and nothing is saved.
async fn bad_dosing_input_is_named_and_nothing_is_saved(store: Arc<dyn Store>) {
    let (w, mut doc, fx, e) = setup(store).await;
    let csrf = doc.csrf().await;
    // A session dated 1990 or year 1 used to start, and its clock then drew a tick per half
    // hour since: a page of 32 MB or 1.7 GB for everyone who opened it.
    for long_ago in ["1990-01-01T09:00", "0001-01-01T09:00"] {
        let r = doc
            .client
            .post(
                &enc_path(&fx, &e, "start"),
                &[
                    ("csrf", &csrf),
                    ("systolic", "120"),
                    ("diastolic", "80"),
                    ("started_at", long_ago),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{long_ago}");
        assert!(
            r.body
                .contains("started_at: must be within the last 24 hours"),
            "{long_ago}: {}",
            r.body
        );
    }
    let start = ago(&w, 60).await;
    let r = doc
        .client
        .post(
            &enc_path(&fx, &e, "start"),
            &[
                ("csrf", &csrf),
                ("systolic", "120"),
                ("diastolic", "80"),
                ("started_at", &start),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let before = record_json(&mut doc, &fx, &e).await;
    let early = ago(&w, 90).await;
    let cases: Vec<Case> = vec![
        (
            "vitals",
            vec![("systolic", "400"), ("diastolic", "20")],
            "systolic",
            "systolic: 400 mmHg is outside the allowed range 50–260 mmHg",
        ),
        (
            "doses",
            vec![
                ("drug", "racemic_ketamine"),
                ("route", "sublingual"),
                ("formulation", "lozenge"),
                ("dose_mg", "100"),
                ("weight_kg", ""),
            ],
            "weight_kg",
            "weight_kg: is required",
        ),
        (
            "vitals",
            vec![
                ("systolic", "120"),
                ("diastolic", "80"),
                ("taken_at", &early),
            ],
            "taken_at",
            "is before the session began",
        ),
    ];
    for (action, fields, field, message) in &cases {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend(fields.iter().copied());
        let r = doc.client.post(&enc_path(&fx, &e, action), &form).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{action}: {}",
            r.body
        );
        assert!(
            r.body.contains(message),
            "page {action} names {field}: {}",
            r.body
        );
        assert!(
            r.body.contains("id=\"form-error\""),
            "shown on the session page"
        );
        let json: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        let r = api(
            &mut doc,
            &format!("/api{}", enc_path(&fx, &e, action)),
            serde_json::Value::Object(json),
            &csrf,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "api {action}: {}",
            r.body
        );
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(body["field"], *field, "{}", r.body);
    }
    assert_eq!(
        record_json(&mut doc, &fx, &e).await,
        before,
        "nothing was saved"
    );
    let events = w
        .store()
        .audit_events(
            w.clinic,
            &AuditFilter {
                limit: 10_000,
                ..Default::default()
            },
        )
        .await
        .expect("audit");
    assert!(
        !events
            .iter()
            .any(|ev| ev.action == "vitals.record" || ev.action == "administration.record"),
        "no write reached the record"
    );
}

/// A psychotherapy note with a unique marker is on its author's notes page and nowhere else:
/// not on any patient page or API response, for its author or a teammate, nor in the audit log.
async fn psychotherapy_notes_stay_on_their_authors_page(store: Arc<dyn Store>) {
    let (w, mut doc, fx, e) = setup(store).await;
    let marker = "PSYNOTE-7c1e0b-MARKER";
    let csrf = doc.csrf().await;
    let notes = format!("/patients/{}/psychotherapy-notes", fx.patient);
    let r = doc
        .client
        .post(
            &notes,
            &[
                ("csrf", &csrf),
                ("body", &format!("We talked about {marker}.")),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let own = doc.client.get(&notes).await;
    assert!(own.body.contains(marker), "the author sees it");
    assert_eq!(
        own.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );

    // Some ordinary record, so the scan reads real pages.
    let r = doc
        .client
        .post(
            &enc_path(&fx, &e, "note"),
            &[("csrf", &csrf), ("note", "Ordinary note text")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let team = w.team("Second").await;
    let mut therapist = w
        .member(
            "ther@clinic.test",
            "T Therapist",
            Role::Therapist,
            Some(team),
        )
        .await;
    w.store()
        .assign_patient(&w.system, team, fx.patient.parse().expect("id"))
        .await
        .expect("assign");
    let theirs = therapist.client.get(&notes).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(!theirs.body.contains(marker), "not the teammate");

    let mut admin = w
        .member("admin@clinic.test", "Admin", Role::Admin, None)
        .await;
    let mut scanned = 0;
    for member in [&mut doc, &mut therapist] {
        let mut paths: Vec<String> = kapstone_web::PATIENT_ROUTES
            .iter()
            .filter(|(m, p)| *m == "GET" && !p.ends_with("/psychotherapy-notes"))
            .map(|(_, p)| {
                p.replace("{id}", &fx.patient)
                    .replace("{course}", &fx.course)
                    .replace("{encounter}", &e)
            })
            .collect();
        paths.extend(["/dashboard", "/patients", "/api/patients", "/api/alerts"].map(String::from));
        for path in paths {
            let r = member.client.get(&path).await;
            assert!(!r.body.contains(marker), "{path} shows the note");
            if r.status == StatusCode::OK {
                scanned += 1;
            }
        }
    }
    for path in [
        "/admin/audit",
        &format!("/admin/audit?patient={}", fx.patient),
    ] {
        let r = admin.client.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(!r.body.contains(marker), "{path}");
    }
    assert!(scanned >= 20, "the scan read {scanned} pages");
}

/// An esketamine session prints the REMS monitoring form's fields, and no clinic setting can
/// shorten esketamine's two-hour observation.
async fn esketamine_sessions_fill_the_rems_form(store: Arc<dyn Store>) {
    let (w, mut doc, fx, e) = setup(store).await;
    let csrf = doc.csrf().await;
    let steps: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "start",
            vec![
                ("systolic", "132".into()),
                ("diastolic", "84".into()),
                ("started_at", ago(&w, 100).await),
            ],
        ),
        (
            "doses",
            vec![
                ("drug", "esketamine".into()),
                ("route", "intranasal_esketamine".into()),
                ("formulation", "nasal_spray_device".into()),
                ("dose_mg", "56".into()),
                ("weight_kg", "80".into()),
                ("lot", "ESK-LOT-42".into()),
                ("given_at", ago(&w, 90).await),
            ],
        ),
        (
            "vitals",
            vec![
                ("systolic", "150".into()),
                ("diastolic", "92".into()),
                ("taken_at", ago(&w, 50).await),
            ],
        ),
    ];
    for (action, fields) in &steps {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let r = doc.client.post(&enc_path(&fx, &e, action), &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.body);
    }
    // 90 minutes after the dose is too early for esketamine, whatever the clinic set.
    let r = doc
        .client
        .post(
            &enc_path(&fx, &e, "discharge"),
            &[
                ("csrf", &csrf),
                ("criteria_met", "on"),
                ("escort_name", "Sam"),
                ("no_driving_advice", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body
            .contains("discharged_at: the observation minimum runs until"),
        "{}",
        r.body
    );
    let rems = doc
        .client
        .get(&format!("/patients/{}/encounters/{e}/rems", fx.patient))
        .await;
    assert_eq!(rems.status, StatusCode::OK, "{}", rems.body);
    for expected in [
        "Ada Lovelace",
        "56 mg",
        "ESK-LOT-42",
        "<dt>Concomitant Benzodiazepines</dt><dd>yes</dd>",
        "<dt>Blood pressure before dosing</dt><dd>132/84 mmHg</dd>",
        "150/92 mmHg",
        "monitoring not ended",
    ] {
        assert!(
            rems.body.contains(expected),
            "REMS form lacks {expected}: {}",
            rems.body
        );
    }

    let mut admin = w
        .member("admin@clinic.test", "Admin", Role::Admin, None)
        .await;
    let page = admin.client.get("/admin/clinical").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.csrf();
    let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf)];
    for (k, v) in [
        ("systolic_max", "160"),
        ("systolic_min", "90"),
        ("diastolic_max", "100"),
        ("diastolic_min", "50"),
        ("heart_rate_max", "120"),
        ("heart_rate_min", "50"),
        ("spo2_min", "92"),
        ("resp_rate_max", "24"),
        ("resp_rate_min", "10"),
        ("predose_systolic_max", "140"),
        ("predose_diastolic_max", "90"),
    ] {
        form.push((k.into(), v.into()));
    }
    for r in kapstone_app::clinical::course::Route::ALL {
        let minutes = if *r == kapstone_app::clinical::course::Route::IntranasalEsketamine {
            "30"
        } else {
            "90"
        };
        form.push((format!("observation.{}", r.as_str()), minutes.into()));
    }
    for c in CONDITIONS.iter().filter(|c| c.id != "bmi_over_35") {
        form.push((format!("screen.{}", c.id), "on".into()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = admin.client.post("/admin/clinical", &pairs).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("observation_minutes.intranasal_esketamine: 30 is outside the allowed range 120–720 minutes"),
        "{}",
        r.body
    );

    // With esketamine at two hours the rules save, and the clinic no longer screens for BMI.
    let pairs: Vec<(&str, &str)> = pairs
        .into_iter()
        .map(|(k, v)| {
            if k == "observation.intranasal_esketamine" {
                (k, "120")
            } else {
                (k, v)
            }
        })
        .collect();
    let r = admin.client.post("/admin/clinical", &pairs).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = admin.client.get("/admin/clinical").await;
    assert!(
        page.body
            .contains("name=\"screen.bmi_over_35\" value=\"on\" >"),
        "BMI no longer screened"
    );
    assert!(
        page.body
            .contains("name=\"screen.psychosis\" value=\"on\" checked>"),
        "psychosis still screened"
    );
    assert!(
        !page.body.contains("screen.aneurysmal"),
        "hard contraindications cannot be turned off"
    );
    let policy = w
        .app
        .store()
        .dosing_policy(&w.system)
        .await
        .expect("policy");
    assert_eq!(policy.precautions_off, ["bmi_over_35"]);
}

macro_rules! backend {
    ($backend:ident, $make:path; $($case:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store: std::sync::Arc<dyn kapstone_store::Store> = std::sync::Arc::new($make().await);
                    super::$case(store).await;
                }
            )+
        }
    };
}

macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        backend!(sqlite, kapstone_store::testing::sqlite_store; $($case),+);
        backend!(postgres, kapstone_store::testing::postgres_store; $($case),+);
    };
}

both_backends!(
    a_signed_encounter_refuses_every_write,
    bad_dosing_input_is_named_and_nothing_is_saved,
    psychotherapy_notes_stay_on_their_authors_page,
    esketamine_sessions_fill_the_rems_form,
);
