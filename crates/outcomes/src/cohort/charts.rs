//! The cohort report's four charts, as [`Figure`]s that render to SVG (dashboard, HTML report)
//! and to PDF: rates at each window with their 95 % intervals, the waterfall of percent change
//! at 3 months, the Kaplan–Meier curve of durability, and the attrition funnel.

use super::{InstrumentReport, Measures, Rate};
use crate::figure::{Anchor, Figure, Ink, Mark};

const W: f64 = 480.0;
const H: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

/// A waterfall with more courses than this draws one bar per quantile instead of per course:
/// the shape is the same and the chart stays small.
pub const WATERFALL_BARS: usize = 240;

fn y_of(fraction: f64) -> f64 {
    TOP + (H - TOP - BOTTOM) * (1.0 - fraction)
}

fn percent_grid(f: &mut Figure) {
    for pct in [0, 25, 50, 75, 100] {
        let y = y_of(f64::from(pct) / 100.0);
        f.line((LEFT, y), (W - RIGHT, y), Ink::Grid);
        f.text((LEFT - 4.0, y + 4.0), Anchor::End, format!("{pct} %"));
    }
}

/// Picks one rate out of a window's measures.
type RateOf = fn(&Measures) -> Option<Rate>;

const SERIES: [(&str, Ink, RateOf); 3] = [
    ("response", Ink::Response, |m| Some(m.response)),
    ("remission", Ink::Remission, |m| Some(m.remission)),
    ("MCID", Ink::Mcid, |m| m.mcid),
];

/// Response, remission and MCID at each window, each a dot with its 95 % interval as a whisker
/// and "k of n" in its tooltip.
pub fn rates(r: &InstrumentReport) -> Figure {
    let mut f = Figure::new(
        "Response, remission and MCID at each window, with 95 % intervals",
        W,
        H + 14.0,
    );
    percent_grid(&mut f);
    let n = r.windows.len().max(1);
    #[allow(clippy::cast_precision_loss)]
    let step = (W - LEFT - RIGHT) / n as f64;
    for (i, (id, m)) in r.windows.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x0 = LEFT + step * i as f64;
        f.text(
            (x0 + step / 2.0, H - 8.0),
            Anchor::Middle,
            format!("{id} (n = {})", m.observed),
        );
        for (k, (name, ink, get)) in SERIES.iter().enumerate() {
            let Some(rate) = get(m) else { continue };
            let (Some(p), Some([lo, hi])) = (rate.rate, rate.ci95) else {
                continue;
            };
            #[allow(clippy::cast_precision_loss)]
            let x = x0 + step / 2.0 + 22.0 * (k as f64 - 1.0);
            f.line((x, y_of(lo)), (x, y_of(hi)), *ink);
            f.marks.push(Mark::Dot {
                at: (x, y_of(p)),
                r: 4.0,
                ink: *ink,
                title: Some(format!(
                    "{name} at {id}: {}, {}",
                    rate.text(),
                    rate.ci_text()
                )),
            });
        }
    }
    legend(&mut f, H + 8.0);
    f
}

/// Names the three colours in words, so colour is never the only cue.
fn legend(f: &mut Figure, y: f64) {
    let mut x = LEFT;
    for (name, ink, _) in SERIES {
        f.marks.push(Mark::Rect {
            at: (x, y - 8.0),
            size: (10.0, 10.0),
            ink,
            title: None,
        });
        f.text((x + 14.0, y + 1.0), Anchor::Start, name);
        x += 90.0;
    }
}

/// The Kaplan–Meier curve of keeping a response, as steps.
pub fn km(km: &[[f64; 2]]) -> Figure {
    let mut f = Figure::new(
        "Kaplan–Meier: share of responders still responding, by days since first response",
        W,
        H,
    );
    percent_grid(&mut f);
    let last = km.last().map_or(1.0, |p| p[0]).max(1.0);
    let x = |d: f64| LEFT + (W - LEFT - RIGHT) * d / last;
    let mut points = Vec::with_capacity(km.len() * 2 + 1);
    let mut prev = 1.0;
    for p in km {
        if !points.is_empty() {
            points.push((x(p[0]), y_of(prev)));
        }
        points.push((x(p[0]), y_of(p[1])));
        prev = p[1];
    }
    points.push((x(last), y_of(prev)));
    f.marks.push(Mark::Path {
        points,
        ink: Ink::Curve,
    });
    if km.len() <= 1 {
        f.text(
            (W / 2.0, y_of(0.5)),
            Anchor::Middle,
            "no response lost so far",
        );
    }
    f.text((LEFT, H - 8.0), Anchor::Start, "day 0");
    f.text(
        (W - RIGHT, H - 8.0),
        Anchor::End,
        format!("day {last:.0}: still responding {:.0} %", prev * 100.0),
    );
    f
}

/// Percent change from baseline of each course observed at the window, most worsened on the
/// left; bars below −50 % (the response threshold, dashed) are responders.
pub fn waterfall(r: &InstrumentReport, window: &str, response_fraction: f64) -> Figure {
    let mut f = Figure::new(
        format!(
            "Waterfall: percent change from baseline at {window}, one bar per course (n = {})",
            r.waterfall.len()
        ),
        W,
        H,
    );
    // −100 % (score 0) at the bottom; worsening is clipped at +100 %.
    let y = |pct: f64| TOP + (H - TOP - BOTTOM) * (100.0 - pct.clamp(-100.0, 100.0)) / 200.0;
    for pct in [-100, -50, 0, 50, 100] {
        let yy = y(f64::from(pct));
        f.line((LEFT, yy), (W - RIGHT, yy), Ink::Grid);
        f.text((LEFT - 4.0, yy + 4.0), Anchor::End, format!("{pct:+} %"));
    }
    let values = quantiles(&r.waterfall, WATERFALL_BARS);
    if values.len() < r.waterfall.len() {
        f.title = format!(
            "Waterfall: percent change from baseline at {window}, {} bars each a quantile of the {} courses",
            values.len(),
            r.waterfall.len()
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let step = (W - LEFT - RIGHT) / values.len().max(1) as f64;
    let zero = y(0.0);
    for (i, v) in values.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = LEFT + step * i as f64;
        let top = y(*v).min(zero);
        let height = (y(*v) - zero).abs().max(0.5);
        f.marks.push(Mark::Rect {
            at: (x, top),
            size: ((step - 0.5).max(0.5), height),
            ink: if *v <= -response_fraction * 100.0 {
                Ink::Improved
            } else if *v > 0.0 {
                Ink::Worse
            } else {
                Ink::Bar
            },
            title: Some(format!("{v:+.0} %")),
        });
    }
    if values.is_empty() {
        f.text(
            (W / 2.0, y(50.0)),
            Anchor::Middle,
            format!("no course observed at {window}"),
        );
    }
    let t = y(-response_fraction * 100.0);
    f.line((LEFT, t), (W - RIGHT, t), Ink::Threshold);
    f.text(
        (W - RIGHT, H - 8.0),
        Anchor::End,
        format!(
            "dashed: response ({:.0} % fall); left: worse, right: better",
            response_fraction * 100.0
        ),
    );
    f
}

/// At most `bars` values spread evenly over the sorted series (all of them if fewer).
fn quantiles(sorted: &[f64], bars: usize) -> Vec<f64> {
    if sorted.len() <= bars {
        return sorted.to_vec();
    }
    (0..bars)
        .map(|i| sorted[i * (sorted.len() - 1) / (bars - 1)])
        .collect()
}

/// Courses with a baseline, then eligible, then observed at each window: loss to follow-up as
/// bars, each labelled "k of n" against the step it is a share of.
pub fn funnel(r: &InstrumentReport) -> Figure {
    let mut steps: Vec<(String, usize)> = vec![
        ("with a baseline".into(), r.with_baseline),
        ("eligible".into(), r.eligible),
    ];
    steps.extend(
        r.windows
            .iter()
            .map(|(id, m)| (format!("observed at {id}"), m.observed)),
    );
    let row = 22.0;
    #[allow(clippy::cast_precision_loss)]
    let height = TOP + row * steps.len() as f64 + 8.0;
    let mut f = Figure::new(
        "Attrition: courses with a baseline, eligible, and observed at each window",
        W,
        height,
    );
    // Labels on the left, then the bar, then room for the longest "k of n (x %) …" words.
    let (left, label_w) = (8.0, 110.0);
    let full = W - left - label_w - 200.0;
    let most = r.with_baseline.max(1);
    for (i, (label, count)) in steps.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let top = TOP + row * i as f64;
        f.text(
            (left + label_w - 6.0, top + 13.0),
            Anchor::End,
            label.clone(),
        );
        #[allow(clippy::cast_precision_loss)]
        let w = full * *count as f64 / most as f64;
        let of = if i < 2 { r.with_baseline } else { r.eligible };
        let rate = Rate::new(*count, of);
        f.marks.push(Mark::Rect {
            at: (left + label_w, top + 3.0),
            size: (w.max(0.5), row - 6.0),
            ink: Ink::Bar,
            title: Some(format!("{label}: {}", rate.text())),
        });
        let words = match i {
            0 => count.to_string(),
            1 => format!("{} with a baseline", rate.text()),
            _ => format!("{} eligible", rate.text()),
        };
        f.text((left + label_w + w + 6.0, top + 13.0), Anchor::Start, words);
    }
    f
}
