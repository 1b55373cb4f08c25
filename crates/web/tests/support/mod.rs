//! A small in-process browser for the HTTP tests: it keeps the session cookie, follows nothing,
//! posts urlencoded forms, and checks the security headers on every response it sees. Values are
//! read out of the HTML with plain string searching.
// Each test binary (http, record) uses a different part of this module.
#![allow(dead_code)]

pub mod smtp;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use kapstone_app::clinical::instrument::Library;
use kapstone_app::clinical::vocab::Role;
use kapstone_app::crypto::{PasswordCost, totp_at, totp_step};
use kapstone_app::model::*;
use kapstone_app::{App, Config};
use kapstone_store::Store;
use std::sync::Arc;
use tower::ServiceExt;

pub const PUBLIC_URL: &str = "http://kapstone.test";
pub const PASSWORD: &str = "correct horse battery staple";
pub const COOKIE: &str = "kapstone_session";

/// One clinic, its app and its router.
pub struct World {
    pub app: App,
    pub router: Router,
    pub clinic: ClinicId,
    /// Who sets up the world: kapstone itself.
    pub system: AuditContext,
}

pub fn app_with(
    store: Arc<dyn Store>,
    public_url: &str,
    mailer: Option<kapstone_app::mail::Mailer>,
) -> App {
    App::new(
        store,
        Arc::new(Library::builtin().expect("built-in instruments")),
        Config {
            public_url: public_url.into(),
            password_cost: PasswordCost {
                memory_kib: 256,
                iterations: 1,
            },
            mailer,
        },
    )
}

impl World {
    /// The clinic's consent document (added on first use), as the id a consent form posts.
    pub async fn consent_document(&self) -> String {
        let store = self.app.store();
        let docs = store.consent_documents(&self.system).await.expect("docs");
        match docs.first() {
            Some(d) => d.id.to_string(),
            None => store
                .add_consent_document(
                    &self.system,
                    "2026-1",
                    "KAP consent",
                    "Off-label use of ketamine…",
                )
                .await
                .expect("document")
                .id
                .to_string(),
        }
    }

    pub async fn new(store: Arc<dyn Store>) -> World {
        Self::with_url(store, PUBLIC_URL).await
    }

    pub async fn with_url(store: Arc<dyn Store>, public_url: &str) -> World {
        Self::build(store, public_url, None).await
    }

    /// A world whose clinic e-mails questionnaire links through `mailer`.
    pub async fn with_mailer(store: Arc<dyn Store>, mailer: kapstone_app::mail::Mailer) -> World {
        Self::build(store, PUBLIC_URL, Some(mailer)).await
    }

    async fn build(
        store: Arc<dyn Store>,
        public_url: &str,
        mailer: Option<kapstone_app::mail::Mailer>,
    ) -> World {
        let clinic = store
            .create_clinic(
                &NewClinic {
                    name: "Front Range KAP".into(),
                    time_zone: "America/Denver".into(),
                },
                "test",
            )
            .await
            .expect("clinic");
        let app = app_with(store, public_url, mailer);
        let router = kapstone_web::router(kapstone_web::Web::new(app.clone(), false));
        World {
            app,
            router,
            clinic: clinic.id,
            system: AuditContext {
                clinic_id: clinic.id,
                actor: Actor::System,
                origin: "test".into(),
            },
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.app.store()
    }

    pub fn client(&self) -> Client {
        Client {
            router: self.router.clone(),
            cookie: None,
            fetch_metadata: true,
        }
    }

    pub async fn team(&self, name: &str) -> CareTeamId {
        self.store()
            .create_team(&self.system, name)
            .await
            .expect("team")
            .id
    }

    /// Adds a staff member (on `team`, if given) and returns them with their set-up link's path.
    pub async fn add(
        &self,
        email: &str,
        name: &str,
        role: Role,
        team: Option<CareTeamId>,
    ) -> (User, String) {
        let (user, link) = self
            .app
            .add_staff(&self.system, email, name, role)
            .await
            .expect("add staff");
        if let Some(team) = team {
            self.store()
                .add_team_member(&self.system, team, user.id)
                .await
                .expect("team member");
        }
        let path = link
            .strip_prefix(PUBLIC_URL)
            .unwrap_or_else(|| panic!("set-up link {link} is not under {PUBLIC_URL}"))
            .to_string();
        (user, path)
    }

    /// A staff member who has set a password, enrolled an authenticator and holds a fully
    /// signed-in session.
    pub async fn member(
        &self,
        email: &str,
        name: &str,
        role: Role,
        team: Option<CareTeamId>,
    ) -> Member {
        let (user, setup) = self.add(email, name, role, team).await;
        let mut client = self.client();
        let r = client.post(&setup, &[("password", PASSWORD)]).await;
        assert_eq!(r.status, StatusCode::OK, "set password: {}", r.body);
        let r = client
            .post("/signin", &[("email", email), ("password", PASSWORD)])
            .await;
        r.assert_redirect("/mfa/enrol");
        let r = client.get("/mfa/enrol").await;
        assert_eq!(r.status, StatusCode::OK);
        let secret = r.totp_secret();
        let mut member = Member {
            user,
            client,
            secret,
            last_step: i64::MIN,
        };
        let code = member.next_code();
        let r = member
            .client
            .post("/mfa/enrol", &[("csrf", &r.csrf()), ("code", &code)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "enrol: {}", r.body);
        assert!(r.body.contains("id=\"recovery-codes\""));
        let r = member.client.get("/dashboard").await;
        let admin_to_patients =
            r.status == StatusCode::SEE_OTHER && r.location() == Some("/patients");
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::FORBIDDEN || admin_to_patients,
            "signed in, the dashboard answers (refuses the role, or sends an admin to the patients): {}",
            r.status
        );
        member
    }
}

/// A signed-in staff member: their browser and their authenticator.
pub struct Member {
    pub user: User,
    pub client: Client,
    pub secret: String,
    pub last_step: i64,
}

impl Member {
    /// The code the authenticator shows now, or for the next step when this step was used
    /// (accepted as clock drift): a code's step can be used only once.
    pub fn next_code(&mut self) -> String {
        let step = totp_step(now().as_second()).max(self.last_step.saturating_add(1));
        self.last_step = step;
        totp_at(&self.secret, step).expect("totp code")
    }

    /// The session's CSRF token, from the page header.
    pub async fn csrf(&mut self) -> String {
        let r = self.client.get("/patients").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.csrf()
    }
}

/// What a response came back as.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_redirect(&self, to: &str) {
        assert!(
            self.status.is_redirection(),
            "expected a redirect to {to}, got {}: {}",
            self.status,
            self.body
        );
        assert_eq!(self.location(), Some(to));
    }

    pub fn is_html(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
    }

    /// The value of the first hidden `csrf` field.
    #[track_caller]
    pub fn csrf(&self) -> String {
        value_after(&self.body, "name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in: {}", self.body))
    }

    #[track_caller]
    pub fn totp_secret(&self) -> String {
        between(&self.body, "<code id=\"totp-secret\">", "</code>")
            .unwrap_or_else(|| panic!("no TOTP secret in: {}", self.body))
    }

    /// The text of the page's error paragraph, if it has one.
    pub fn error(&self) -> Option<String> {
        between(&self.body, "<p class=\"error\" role=\"alert\">", "</p>")
    }
}

/// The text between `start` and the next `end`.
pub fn between(body: &str, start: &str, end: &str) -> Option<String> {
    let from = body.find(start)? + start.len();
    let len = body[from..].find(end)?;
    Some(body[from..from + len].to_string())
}

/// An attribute value that starts right after `marker` and runs to the closing quote.
pub fn value_after(body: &str, marker: &str) -> Option<String> {
    between(body, marker, "\"")
}

/// Every id found between `start` and `end` (e.g. `/alerts/` … `/ack`), in page order.
pub fn all_between(body: &str, start: &str, end: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(start) {
        rest = &rest[i + start.len()..];
        if let Some(j) = rest.find(end) {
            out.push(rest[..j].to_string());
            rest = &rest[j..];
        }
    }
    out
}

/// `application/x-www-form-urlencoded`.
pub fn encode_form(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A browser without JavaScript, for one person.
#[derive(Clone)]
pub struct Client {
    router: Router,
    /// The `kapstone_session` cookie value the server last set.
    pub cookie: Option<String>,
    /// Sends `Sec-Fetch-Site: same-origin` as a modern browser on kapstone's own page does.
    pub fetch_metadata: bool,
}

impl Client {
    /// A browser for a router built outside a `World` (e.g. on an unmigrated database).
    pub fn for_router(router: Router) -> Client {
        Client {
            router,
            cookie: None,
            fetch_metadata: true,
        }
    }

    pub fn with_cookie(&self, cookie: &str) -> Client {
        Client {
            router: self.router.clone(),
            cookie: Some(cookie.into()),
            fetch_metadata: self.fetch_metadata,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None, &[]).await
    }

    /// Searches patients as the page does: the term posted with the session's CSRF token,
    /// never in the address.
    pub async fn search(&mut self, q: &str) -> Page {
        let csrf = self.get("/patients").await.csrf();
        self.post("/patients", &[("csrf", &csrf), ("q", q)]).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(encode_form(form)), &[])
            .await
    }

    pub async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        self.send(Method::POST, path, Some(encode_form(form)), headers)
            .await
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<String>,
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = Request::builder().method(method.clone()).uri(path);
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, format!("{COOKIE}={c}"));
        }
        if form.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        // A modern browser on kapstone's own page says so; a test that means otherwise says
        // what instead.
        if self.fetch_metadata
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("sec-fetch-site"))
        {
            req = req.header("sec-fetch-site", "same-origin");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(form.map_or_else(Body::empty, Body::from))
            .expect("request");
        let res = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router always answers");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res
            .into_body()
            .collect()
            .await
            .expect("response body")
            .to_bytes();
        let body = String::from_utf8(bytes.to_vec()).expect("utf-8 body");
        let cookies: Vec<&str> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(cookies.len() <= 1, "one Set-Cookie at most: {cookies:?}");
        if let Some(set) = cookies.first() {
            let value = set
                .split(';')
                .next()
                .and_then(|kv| kv.trim().strip_prefix(&format!("{COOKIE}=")))
                .unwrap_or_else(|| panic!("unexpected Set-Cookie {set}"));
            assert!(set.contains("HttpOnly"), "{set}");
            assert!(set.contains("SameSite=Strict"), "{set}");
            self.cookie = Some(value.to_string()).filter(|v| !v.is_empty());
        }
        let page = Page {
            status,
            headers,
            body,
        };
        assert_security_headers(&page, &format!("{method} {path}"));
        page
    }
}

/// Every response, HTML above all, carries the security headers.
#[track_caller]
pub fn assert_security_headers(page: &Page, what: &str) {
    let get = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = get("content-security-policy");
    assert!(
        csp.contains("script-src 'self'"),
        "{what}: CSP without script-src 'self': {csp:?}"
    );
    assert!(
        !csp.contains("unsafe-inline"),
        "{what}: CSP allows inline script: {csp:?}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{what}: CSP without frame-ancestors 'none': {csp:?}"
    );
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    if page.is_html() {
        // No inline script in any page: every <script> loads a file from /static.
        for tag in all_between(&page.body, "<script", ">") {
            assert!(
                tag.contains("src=\"/static/"),
                "{what}: inline or foreign script <script{tag}>"
            );
        }
    }
}

/// The ids and links a patient with an open alert comes with.
pub struct Fixture {
    pub patient: String,
    pub mrn: String,
    pub course: String,
    pub due: String,
    pub alert: String,
    pub encounter: String,
    pub medication: String,
    pub consent: String,
}

pub fn today() -> String {
    now().to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
}

/// Rows of the chart's questionnaire schedule: (due id if a link can be made, instrument,
/// time point, status).
pub fn due_rows(chart: &str) -> Vec<(Option<String>, String, String, String)> {
    let Some(section) = between(chart, "id=\"schedule-h\"", "id=\"courses-h\"") else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for row in all_between(&section, "<tr class=\"", "</tr>") {
        let cells = all_between(&row, "<td>", "</td>");
        let id = between(&row, "/dues/", "/link");
        let cell = |i: usize| cells.get(i).cloned().unwrap_or_default();
        rows.push((id, cell(1), cell(2), cell(3)));
    }
    rows
}

impl Member {
    /// Registers a patient through the form and returns their id.
    pub async fn register(&mut self, given: &str, family: &str) -> String {
        let r = self.client.get("/patients/new").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = self
            .client
            .post(
                "/patients/new",
                &[
                    ("csrf", &r.csrf()),
                    ("given_name", given),
                    ("family_name", family),
                    ("birth_date", "1985-04-02"),
                    ("sex", "female"),
                    ("email", ""),
                    ("phone", ""),
                    ("postal_code", ""),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let id = r
            .location()
            .and_then(|l| l.strip_prefix("/patients/"))
            .expect("redirect to the chart")
            .to_string();
        assert!(id.parse::<uuid::Uuid>().is_ok(), "{id}");
        id
    }

    pub async fn chart(&mut self, patient: &str) -> Page {
        let r = self.client.get(&format!("/patients/{patient}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r
    }

    /// Opens a kap-6 PTSD course starting today; returns its id.
    pub async fn open_course(&mut self, patient: &str) -> String {
        let csrf = self.chart(patient).await.csrf();
        let r = self
            .client
            .post(
                &format!("/patients/{patient}/courses"),
                &[
                    ("csrf", &csrf),
                    ("indication", "ptsd"),
                    ("route", ""),
                    ("protocol", "kap-6"),
                    ("intake", &today()),
                ],
            )
            .await;
        r.assert_redirect(&format!("/patients/{patient}"));
        let chart = self.chart(patient).await;
        let courses = all_between(&chart.body, "/courses/", "\">Course record");
        assert_eq!(courses.len(), 1, "one course: {courses:?}");
        courses[0].clone()
    }

    /// The id of the patient's baseline PHQ-9 on the schedule.
    pub async fn baseline_phq9(&mut self, patient: &str) -> String {
        let chart = self.chart(patient).await;
        due_rows(&chart.body)
            .into_iter()
            .find(|r| r.1 == "PHQ-9" && r.2 == "baseline")
            .and_then(|r| r.0)
            .expect("a baseline PHQ-9 with a Create link button")
    }

    /// Creates a portal link for a scheduled questionnaire; returns the link's path (`/p/…`).
    pub async fn create_link(&mut self, patient: &str, due: &str) -> (Page, String) {
        let csrf = self.chart(patient).await.csrf();
        let r = self
            .client
            .post(
                &format!("/patients/{patient}/dues/{due}/link"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let url = value_after(
            &r.body,
            "id=\"portal-link\" class=\"wide\" readonly value=\"",
        )
        .expect("the link on the page");
        let path = url
            .strip_prefix(PUBLIC_URL)
            .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"))
            .to_string();
        (r, path)
    }

    /// A patient with a course and an open PHQ-9 item 9 alert raised through the portal.
    pub async fn patient_with_alert(
        &mut self,
        world: &World,
        given: &str,
        family: &str,
    ) -> Fixture {
        let patient = self.register(given, family).await;
        let course = self.open_course(&patient).await;
        let due = self.baseline_phq9(&patient).await;
        let (_, link) = self.create_link(&patient, &due).await;
        let r = world.client().post(&link, &phq9(2)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let chart = self.chart(&patient).await;
        let alerts = all_between(&chart.body, "/alerts/", "/ack");
        assert_eq!(alerts.len(), 1, "one open alert");
        let mrn = between(&chart.body, "Record ", " ·").expect("record number");
        let page = self
            .client
            .get(&format!("/patients/{patient}/courses/{course}"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let encounter = between(&page.body, "/encounters/", "\"").expect("an encounter");
        let csrf = chart.csrf();
        let r = self
            .client
            .post(
                &format!("/patients/{patient}/medications"),
                &[("csrf", &csrf), ("name", "Lorazepam"), ("dose", "1 mg")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = self
            .client
            .get(&format!("/patients/{patient}/courses/{course}/screening"))
            .await;
        let medication = between(&page.body, "/medications/", "/stop").expect("a medication");
        let document = world.consent_document().await;
        let r = self
            .client
            .post(
                &format!("/patients/{patient}/consents"),
                &[
                    ("csrf", &csrf),
                    ("document", &document),
                    ("signer_name", given),
                    ("witness_name", "Witness W"),
                    ("signed_at", ""),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = self
            .client
            .get(&format!("/patients/{patient}/consents"))
            .await;
        let consent = between(&page.body, "/consents/", "/revoke").expect("a consent");
        Fixture {
            patient,
            mrn,
            course,
            due,
            alert: alerts[0].clone(),
            encounter,
            medication,
            consent,
        }
    }
}

/// A complete PHQ-9 with item 9 answered `item9` (items 1-8 answered 1, item 10 answered 1).
pub fn phq9(item9: i64) -> Vec<(&'static str, &'static str)> {
    let nine = match item9 {
        0 => "0",
        1 => "1",
        2 => "2",
        _ => "3",
    };
    vec![
        ("item1", "1"),
        ("item2", "1"),
        ("item3", "1"),
        ("item4", "1"),
        ("item5", "1"),
        ("item6", "1"),
        ("item7", "1"),
        ("item8", "1"),
        ("item9", nine),
        ("item10", "1"),
    ]
}
