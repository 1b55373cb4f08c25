//! `kapstone serve` stops cleanly: on SIGTERM a request already under way is finished and
//! answered in full, new connections are refused, and the process exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kapstone serve` on a free port; returns it, its address and its log lines.
fn start(db: &str) -> (Server, String, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapstone"))
        .env("KAPSTONE_KEYS", kapstone_store::testing::TEST_KEYS)
        .args(["serve", "--db", db, "--addr", "127.0.0.1:0"])
        .env_remove("KAPSTONE_DB")
        .env_remove("RUST_LOG")
        .env_remove("KAPSTONE_LOG_FORMAT")
        // Debug for the web crate only: its "request started" line says when a request is in.
        .env("KAPSTONE_LOG", "info,kapstone_web=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let server = Server(child);
    let (tx, log) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            let addr = rest.trim_end_matches(')').to_string();
            std::thread::spawn(move || lines.for_each(drop));
            return (server, addr, log);
        }
    }
    panic!("serve exited before listening");
}

/// Reads log lines until one contains every part; returns the lines read.
fn wait_for_log(log: &Receiver<String>, parts: &[&str]) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = log.recv() {
        let found = parts.iter().all(|p| line.contains(p));
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("the server ended without logging {parts:?}: {seen:#?}");
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let db = kapstone_store::testing::sqlite_url();
    let (mut server, addr, log) = start(&db);

    let body = "email=nobody%40clinic.test&password=correct+horse+battery+staple";
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = TcpStream::connect(&addr).expect("connect");
    write!(
        conn,
        "POST /signin HTTP/1.1\r\nHost: {addr}\r\nSec-Fetch-Site: same-origin\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .expect("write the start of the request");
    conn.flush().expect("flush");
    // The handler now waits for the rest of the form.
    wait_for_log(&log, &["request started", "route=/signin"]);

    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_for_log(&log, &["stopping", "SIGTERM"]);
    // The listener closes once the signal is handled; the request in flight stays open.
    while TcpStream::connect(&addr).is_ok() {
        std::thread::yield_now();
    }

    conn.write_all(rest.as_bytes()).expect("write the rest");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read the answer");
    let (head, page) = answer.split_once("\r\n\r\n").expect("a full response");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_string)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head}"));
    assert_eq!(page.len(), length, "the whole page arrived");
    assert!(page.trim_end().ends_with("</html>"), "{page}");

    let exit = server.0.wait().expect("wait");
    assert_eq!(exit.code(), Some(0), "a clean stop after SIGTERM");
    let lines = wait_for_log(&log, &["stopped"]);
    let answered = lines
        .iter()
        .find(|l| l.contains("route=/signin") && l.contains("status=401"))
        .unwrap_or_else(|| panic!("the drained request is logged: {lines:#?}"));
    assert!(!answered.contains("nobody"), "{answered}");
}
