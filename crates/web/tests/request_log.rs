//! The request log line: the route template, status, request id and staff id are there; a
//! patient's name, record number, id and the query string that carried them are not. Captured
//! through the same subscriber the server installs, in both formats.

mod support;

use axum::http::StatusCode;
use kapstone_app::clinical::vocab::Role;
use kapstone_app::model::PatientId;
use kapstone_store::Store;
use kapstone_web::logging::{LogFormat, subscriber};
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::*;

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("log buffer").clone()).expect("utf-8 log")
    }
}

const GIVEN: &str = "Margaret";
const FAMILY: &str = "Quillfeather";

async fn request_lines_carry_ids_and_templates_only(store: Arc<dyn Store>) {
    let w = World::new(store).await;
    let team = w.team("Team A").await;
    let mut doc = w
        .member(
            "dr.ames@clinic.test",
            "Dr Ames",
            Role::Prescriber,
            Some(team),
        )
        .await;
    let csrf = doc.csrf().await;

    for format in [LogFormat::Json, LogFormat::Text] {
        let captured = Captured::default();
        let writer = captured.clone();
        let sink = subscriber(
            format,
            tracing_subscriber::EnvFilter::new("info"),
            move || writer.clone(),
        );
        // The requests run on this thread (the router answers in the test's own task).
        let guard = tracing::subscriber::set_default(sink);
        let family = format!(
            "{FAMILY}{}",
            if format == LogFormat::Json { "" } else { "e" }
        );
        let created = doc
            .client
            .post(
                "/patients/new",
                &[
                    ("csrf", &csrf),
                    ("given_name", GIVEN),
                    ("family_name", &family),
                    ("birth_date", "1981-02-03"),
                    ("sex", "female"),
                ],
            )
            .await;
        assert!(created.status.is_redirection(), "{}", created.body);
        let chart = created.location().expect("the new chart").to_string();
        let patient = chart.trim_start_matches("/patients/").to_string();
        let mrn = w
            .store()
            .patient(&w.system, PatientId(patient.parse().expect("patient id")))
            .await
            .expect("patient")
            .mrn;
        let by_mrn = doc.client.search(&mrn).await;
        assert!(
            by_mrn.body.contains(&family),
            "the search by MRN found the patient"
        );
        let search = doc.client.search(&family).await;
        assert_eq!(search.status, StatusCode::OK);
        assert!(
            search.body.contains(&family),
            "the search found the patient"
        );
        let page = doc.client.get(&chart).await;
        assert_eq!(page.status, StatusCode::OK);
        drop(guard);

        let log = captured.text();
        for secret in [
            GIVEN,
            family.as_str(),
            mrn.as_str(),
            patient.as_str(),
            "q=",
            "?",
        ] {
            assert!(
                !log.contains(secret),
                "{format:?} log holds {secret:?}:\n{log}"
            );
        }
        let request_id = search
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("every answer carries its request id")
            .to_string();
        let user = doc.user.id.to_string();
        let line = log
            .lines()
            .find(|l| l.contains(&request_id))
            .unwrap_or_else(|| panic!("no line for request {request_id}:\n{log}"));
        match format {
            LogFormat::Json => {
                let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                assert_eq!(v["span"]["route"], "/patients", "{line}");
                assert_eq!(v["span"]["method"], "POST", "{line}");
                assert_eq!(v["span"]["user"], user.as_str(), "{line}");
                assert_eq!(v["status"], 200, "{line}");
                assert!(v["latency_ms"].is_number(), "{line}");
                let lines: Vec<serde_json::Value> = log
                    .lines()
                    .map(|l| serde_json::from_str(l).expect("every line is JSON"))
                    .collect();
                assert!(
                    lines
                        .iter()
                        .any(|v| v["span"]["route"] == "/patients/{id}" && v["status"] == 200),
                    "the chart is logged by its template:\n{log}"
                );
                assert!(
                    lines
                        .iter()
                        .any(|v| v["span"]["route"] == "/patients/new" && v["status"] == 303),
                    "{log}"
                );
            }
            LogFormat::Text => {
                for part in [
                    "route=/patients ",
                    "method=POST",
                    "status=200",
                    &format!("user={user}"),
                ] {
                    assert!(line.contains(part), "{part:?} in {line}");
                }
                assert!(log.contains("route=/patients/{id}"), "{log}");
            }
        }
    }
}

#[tokio::test]
async fn sqlite_request_lines_carry_ids_and_templates_only() {
    request_lines_carry_ids_and_templates_only(Arc::new(
        kapstone_store::testing::sqlite_store().await,
    ))
    .await;
}

#[tokio::test]
async fn postgres_request_lines_carry_ids_and_templates_only() {
    request_lines_carry_ids_and_templates_only(Arc::new(
        kapstone_store::testing::postgres_store().await,
    ))
    .await;
}
