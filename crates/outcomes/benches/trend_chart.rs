//! Rendering time of a worst-case patient trend chart: 10,000 assessments, 1,000 dosing
//! sessions and the PHQ-9 severity bands. No harness dependency: it times `render` directly and
//! prints min / median / p95.
//!
//! `cargo bench -j2 -p kapstone-outcomes --bench trend_chart [-- RUNS]`

use kapstone_clinical::instrument::Library;
use kapstone_outcomes::{DoseMarker, ReferenceLine, TrendChart, TrendPoint, XTick};
use std::hint::black_box;
use std::time::{Duration, Instant};

const POINTS: u32 = 10_000;
const MARKERS: u32 = 1_000;
const DEFAULT_RUNS: usize = 200;
/// The budget the chart must stay well under in a release build.
const BUDGET_MS: f64 = 50.0;

fn main() {
    // `cargo bench` passes `--bench`; the only argument of ours is an optional run count.
    let runs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(DEFAULT_RUNS)
        .max(1);
    let chart = worst_case();

    let svg = chart.render();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let out = black_box(&chart).render();
        times.push(start.elapsed());
        black_box(out);
    }
    times.sort();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let (min, median, p95) = (ms(times[0]), ms(at(0.5)), ms(at(0.95)));
    println!("trend_chart: {POINTS} points, {MARKERS} dosing markers, 5 bands, {runs} runs");
    println!("  machine: {}", machine());
    println!("  output:  {} bytes", svg.len());
    println!(
        "  min {min:.2} ms   median {median:.2} ms   p95 {p95:.2} ms   (budget {BUDGET_MS} ms)"
    );
    if p95 >= BUDGET_MS {
        eprintln!("trend_chart: p95 {p95:.2} ms is over the {BUDGET_MS} ms budget");
        std::process::exit(1);
    }
}

fn worst_case() -> TrendChart {
    let library = Library::builtin().expect("the built-in library loads");
    let phq9 = library.get("phq9").expect("PHQ-9 is built in");
    let mut chart = TrendChart::for_instrument(phq9).expect("PHQ-9 has a total");
    chart.title = "PHQ-9 — Jane Example".into();
    chart.points = (0..POINTS)
        .map(|i| TrendPoint {
            x: f64::from(i) * 0.5,
            y: f64::from((i * 7919) % 28),
            label: Some(format!("day {}", i / 2)),
        })
        .collect();
    chart.markers = (0..MARKERS)
        .map(|i| DoseMarker {
            x: f64::from(i) * 5.0 + 0.25,
            label: format!("Dose {}", i + 1),
        })
        .collect();
    chart.reference = Some(ReferenceLine {
        y: 10.0,
        label: "Caseness (10)".into(),
    });
    chart.x_ticks = (0..=10)
        .map(|m| XTick {
            x: f64::from(m) * 500.0,
            label: format!("Month {m}"),
        })
        .collect();
    chart
}

/// CPU model and logical core count, from /proc/cpuinfo where there is one.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim())
        })
        .unwrap_or("unknown CPU");
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let cores = if cores == 0 {
        std::thread::available_parallelism().map_or(0, usize::from)
    } else {
        cores
    };
    format!("{model}, {cores} logical cores, {}", std::env::consts::ARCH)
}
