//! Two small SVG charts of a cohort report: rates over the windows with their 95 % intervals,
//! and the Kaplan–Meier curve of durability. Numbers and fixed labels only; window ids are
//! escaped.

use super::{InstrumentReport, Measures, Rate};
use crate::escape;

const W: f64 = 480.0;
const H: f64 = 200.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

fn y(fraction: f64) -> f64 {
    TOP + (H - TOP - BOTTOM) * (1.0 - fraction)
}

fn frame(title: &str, body: &str) -> String {
    let mut s = format!(
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" class=\"cohort-chart\"><title>{}</title>",
        escape(title)
    );
    for pct in [0, 25, 50, 75, 100] {
        let yy = y(f64::from(pct) / 100.0);
        s.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" class=\"grid\"/><text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{pct} %</text>",
            W - 8.0,
            LEFT - 4.0,
            yy + 4.0
        ));
    }
    s.push_str(body);
    s.push_str("</svg>");
    s
}

/// Picks one rate out of a window's measures.
type RateOf = fn(&Measures) -> Option<Rate>;

/// Response, remission and MCID rates at each window, with 95 % intervals as whiskers.
pub fn rates_svg(r: &InstrumentReport) -> String {
    let n = r.windows.len().max(1);
    #[allow(clippy::cast_precision_loss)]
    let step = (W - LEFT - 20.0) / n as f64;
    let mut body = String::new();
    let series: [(&str, RateOf); 3] = [
        ("response", |m| Some(m.response)),
        ("remission", |m| Some(m.remission)),
        ("mcid", |m| m.mcid),
    ];
    for (i, (id, m)) in r.windows.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x0 = LEFT + 10.0 + step * i as f64;
        body.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{} (n={})</text>",
            x0 + step / 2.0 - 10.0,
            H - 8.0,
            escape(id),
            m.observed
        ));
        for (k, (name, get)) in series.iter().enumerate() {
            let Some(rate) = get(m) else { continue };
            let (Some(p), Some([lo, hi])) = (rate.rate, rate.ci95) else {
                continue;
            };
            #[allow(clippy::cast_precision_loss)]
            let x = x0 + 14.0 + 22.0 * k as f64;
            body.push_str(&format!(
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" class=\"ci {name}\"/><circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"4\" class=\"{name}\"><title>{name} at {}: {} of {} ({:.0} %), 95 % CI {:.0}–{:.0} %</title></circle>",
                y(lo),
                y(hi),
                y(p),
                escape(id),
                rate.n,
                rate.of,
                p * 100.0,
                lo * 100.0,
                hi * 100.0
            ));
        }
    }
    frame(
        "Response, remission and MCID at each window, with 95 % intervals",
        &body,
    )
}

/// The Kaplan–Meier curve of keeping a response, as steps.
pub fn km_svg(km: &[[f64; 2]]) -> String {
    let last = km.last().map_or(1.0, |p| p[0]).max(1.0);
    let x = |d: f64| LEFT + (W - LEFT - 20.0) * d / last;
    let mut path = String::new();
    let mut prev = 1.0;
    for (i, p) in km.iter().enumerate() {
        if i == 0 {
            path.push_str(&format!("M{:.1},{:.1}", x(p[0]), y(p[1])));
        } else {
            path.push_str(&format!(" H{:.1} V{:.1}", x(p[0]), y(p[1])));
        }
        prev = p[1];
    }
    path.push_str(&format!(" H{:.1}", x(last)));
    let body = format!(
        "<path d=\"{path}\" class=\"km\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">day {last:.0}; still responding {:.0} %</text>",
        W - 8.0,
        H - 8.0,
        prev * 100.0
    );
    frame(
        "Kaplan–Meier: share of responders still responding, by days since first response",
        &body,
    )
}
