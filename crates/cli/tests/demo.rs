//! `kapstone demo` creates a synthetic clinic, serves it, and every page says the data is
//! synthetic; run twice, it reuses the clinic instead of adding another.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo and returns it with the address it printed once it is serving.
fn start(db: &str, patients: &str) -> (Server, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapstone"))
        .args([
            "demo",
            "--db",
            db,
            "--patients",
            patients,
            "--addr",
            "127.0.0.1:0",
        ])
        .env_remove("KAPSTONE_DB")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start demo");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout).lines();
    while let Some(line) = reader.next() {
        let line = line.expect("line");
        lines.push(line.clone());
        if let Some(url) = line.split("serving ").nth(1) {
            let addr = url.trim().trim_start_matches("http://").to_string();
            // Keep draining stdout: a closed pipe would end the server at its next line.
            std::thread::spawn(move || reader.for_each(drop));
            return (server, addr, lines);
        }
    }
    panic!("demo exited before serving: {lines:?}");
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    body
}

#[test]
fn demo_serves_a_synthetic_clinic_and_reuses_it() {
    let db = kapstone_store::testing::sqlite_url();
    let (server, addr, lines) = start(&db, "40");
    assert!(
        lines.iter().any(|l| l.contains("wrote 40 patients")),
        "{lines:?}"
    );
    let page = get(&addr, "/signin");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("Synthetic demo data"),
        "the banner is on every page"
    );
    assert!(page.to_lowercase().contains("content-security-policy"));
    drop(server);

    let (_server, addr, lines) = start(&db, "40");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Using the synthetic demo clinic already")),
        "{lines:?}"
    );
    assert!(get(&addr, "/signin").contains("Synthetic demo data"));

    // Reports of the demo's data say they are synthetic, and count its courses.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapstone"))
        .args(["report", "--db", &db])
        .env_remove("KAPSTONE_DB")
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["synthetic"], true);
    assert!(
        json["courses"].as_u64().is_some_and(|n| n >= 40),
        "{}",
        json["courses"]
    );
    let phq = &json["instruments"]["phq9"];
    assert!(phq["eligible"].as_u64().is_some_and(|n| n > 0), "{phq}");
}
