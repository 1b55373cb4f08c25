//! Patients at the portal of a real `kapstone serve`: seeded links, plain HTTP/1.1 requests from
//! an address of their own, and the server started on a free port. Shared by the crash test and
//! the load benchmark (`benches/load.rs`).

use jiff::SignedDuration;
use jiff::civil::date;
use kapstone_app::crypto::{random_token, token_hash};
use kapstone_clinical::course::Indication;
use kapstone_clinical::instrument::{AnswerSet, Instrument, Library};
use kapstone_clinical::vocab::Sex;
use kapstone_demo::rng::SplitMix64;
use kapstone_store::Store;
use kapstone_store::model::*;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One patient's link, with the answers they will give and the address they answer from
/// (each its own, so the portal's per-address limit sees one patient, as in life).
pub struct Link {
    pub token: String,
    pub patient: PatientId,
    pub due: DueId,
    pub form: String,
    pub source: Ipv4Addr,
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// One HTTP/1.1 request from `source`; `Err` when the server could not be reached at all, and
/// `Ok` with what arrived when a reply began (a cut-off reply keeps what the patient saw).
pub async fn request(
    port: u16,
    source: Ipv4Addr,
    method: &str,
    path: &str,
    form: Option<&str>,
) -> Result<Option<Reply>, std::io::Error> {
    request_as(port, source, method, path, form, None).await
}

/// As `request`, signed in with a staff session cookie when one is given.
pub async fn request_as(
    port: u16,
    source: Ipv4Addr,
    method: &str,
    path: &str,
    form: Option<&str>,
    session: Option<&str>,
) -> Result<Option<Reply>, std::io::Error> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let mut stream = socket
        .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await?;
    let body = form.unwrap_or_default();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(token) = session {
        head.push_str(&format!("Cookie: kapstone_session={token}\r\n"));
    }
    if form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    if stream.write_all(head.as_bytes()).await.is_err() {
        return Ok(None);
    }
    let mut raw = Vec::new();
    let _cut_off = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok());
    Ok(status.map(|status| Reply {
        status,
        body: text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string(),
    }))
}

pub fn answers(inst: &Instrument, rng: &mut SplitMix64, item9_positive: bool) -> String {
    inst.items
        .iter()
        .map(|item| {
            let v = if inst.id == "phq9" && item.number == 9 {
                if item9_positive { rng.range(1, 3) } else { 0 }
            } else {
                match &item.answers {
                    AnswerSet::Options(o) => {
                        o[usize::try_from(rng.below(o.len() as u64)).unwrap_or(0)].value
                    }
                    AnswerSet::Range { min, max, .. } => rng.range(*min, *max),
                }
            };
            format!("item{}={v}", item.number)
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `count` links: new patients, each with a course (and on `team` when one is given), and a
/// live link for each of their PHQ-9s and GAD-7s.
pub async fn seed_links(
    store: &dyn Store,
    ctx: &AuditContext,
    lib: &Library,
    rng: &mut SplitMix64,
    next_address: &mut u32,
    count: usize,
    team: Option<CareTeamId>,
) -> Vec<Link> {
    let mut links = Vec::new();
    while links.len() < count {
        let p = store
            .create_patient(
                ctx,
                &NewPatient {
                    mrn: None,
                    details: PatientDetails {
                        given_name: "Synthetic".into(),
                        family_name: format!("Crash{}", rng.below(1_000_000)),
                        birth_date: date(1980, 1, 1),
                        sex: Sex::Female,
                        email: None,
                        phone: None,
                        postal_code: None,
                    },
                },
            )
            .await
            .expect("patient");
        let plan = kapstone_clinical::protocol::template("kap-6")
            .expect("kap-6")
            .plan(Indication::Mdd, date(2026, 1, 5));
        store
            .open_course(
                ctx,
                &NewCourse {
                    patient_id: p.id,
                    indication: Indication::Mdd,
                    planned_route: None,
                    protocol: "kap-6".into(),
                    plan,
                },
            )
            .await
            .expect("course");
        if let Some(team) = team {
            store.assign_patient(ctx, team, p.id).await.expect("team");
        }
        for due in store.dues_of(ctx, p.id).await.expect("dues") {
            if links.len() == count || !matches!(due.instrument.as_str(), "phq9" | "gad7") {
                continue;
            }
            let inst = lib.get(&due.instrument).expect("instrument");
            let token = random_token();
            let item9_positive = rng.chance(0.25);
            store
                .create_portal_link(
                    ctx,
                    due.id,
                    &token_hash(&token),
                    now() + SignedDuration::from_hours(24),
                )
                .await
                .expect("link");
            *next_address += 1;
            let [_, b, c, d] = next_address.to_be_bytes();
            links.push(Link {
                token,
                patient: p.id,
                due: due.id,
                form: answers(inst, rng, item9_positive),
                source: Ipv4Addr::new(127, 10 + b, c, d),
            });
        }
    }
    links
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `kapstone serve` (from `bin`) on a free port, once it accepts connections.
pub async fn start(bin: &Path, url: &str, log: &Path) -> (Child, u16) {
    let port = free_port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("server log");
    let mut child = Command::new(bin)
        .env("KAPSTONE_KEYS", kapstone_store::testing::TEST_KEYS)
        .args(["serve", "--db", url, "--addr", &format!("127.0.0.1:{port}")])
        .env_remove("KAPSTONE_DB")
        .env_remove("KAPSTONE_INSTRUMENTS")
        .env_remove("KAPSTONE_PUBLIC_URL")
        .env_remove("KAPSTONE_SMTP_URL")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start kapstone serve");
    // Migrations run before the listener binds: a connection means it is ready.
    loop {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return (child, port);
        }
        if let Some(status) = child.try_wait().expect("server status") {
            panic!("kapstone serve exited at start ({status}); see the log");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
