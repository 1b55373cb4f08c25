//! A progress bar on standard error for long commands: redrawn in place on a terminal, and a
//! plain line at each tenth otherwise, so that a log or a CI transcript stays readable.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Bar {
    label: &'static str,
    unit: &'static str,
    total: usize,
    tty: bool,
    started: Instant,
    state: Mutex<State>,
}

struct State {
    drawn_at: Option<Instant>,
    tenth: usize,
}

impl Bar {
    pub fn new(label: &'static str, total: usize, unit: &'static str) -> Bar {
        Bar {
            label,
            unit,
            total,
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            state: Mutex::new(State {
                drawn_at: None,
                tenth: 0,
            }),
        }
    }

    /// `done` of the total are finished. Cheap to call for every row: it draws at most ten
    /// times a second.
    pub fn set(&self, done: usize) {
        let Ok(mut s) = self.state.lock() else { return };
        if self.tty {
            if s.drawn_at
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
            {
                return;
            }
            s.drawn_at = Some(Instant::now());
            eprint!("\r{}\x1b[K", self.line(done));
            let _ = std::io::stderr().flush();
        } else {
            let tenth = done.saturating_mul(10) / self.total.max(1);
            if tenth > s.tenth && tenth < 10 {
                s.tenth = tenth;
                eprintln!("{}", self.line(done));
            }
        }
    }

    pub fn finish(&self) {
        let line = self.line(self.total);
        if self.tty {
            eprintln!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
    }

    fn line(&self, done: usize) -> String {
        render(
            self.label,
            self.unit,
            done.min(self.total),
            self.total,
            self.started.elapsed(),
        )
    }
}

/// "label [#####.....]  50 % 500 of 1,000 rows, 3 s left".
pub fn render(label: &str, unit: &str, done: usize, total: usize, elapsed: Duration) -> String {
    const WIDTH: usize = 24;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    let left = if done > 0 && done < total {
        let per = elapsed.as_secs_f64() / f64::from(u32::try_from(done).unwrap_or(u32::MAX));
        let rest = per * f64::from(u32::try_from(total - done).unwrap_or(u32::MAX));
        format!(", {} left", duration(rest))
    } else if done >= total {
        format!(", {}", duration(elapsed.as_secs_f64()))
    } else {
        String::new()
    };
    format!(
        "{label} [{}{}] {pct:>3} % {} of {} {unit}{left}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        thousands(done),
        thousands(total),
    )
}

fn duration(secs: f64) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // seconds of a command
    let s = secs.round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_shows_share_counts_and_time_left() {
        assert_eq!(
            render("checking", "rows", 500, 1000, Duration::from_secs(3)),
            "checking [############............]  50 % 500 of 1,000 rows, 3 s left"
        );
        assert_eq!(
            render(
                "writing",
                "patients",
                1_234_567,
                1_234_567,
                Duration::from_secs(75)
            ),
            "writing [########################] 100 % 1,234,567 of 1,234,567 patients, 1m15s"
        );
        assert_eq!(
            render("writing", "patients", 0, 0, Duration::ZERO),
            "writing [########################] 100 % 0 of 0 patients, 0 s"
        );
    }
}
