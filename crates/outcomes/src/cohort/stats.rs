//! The statistics the cohort report needs: Wilson score intervals for proportions and the
//! Kaplan–Meier product-limit estimate of survival.

use serde::Serialize;

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// k of n with its rate and Wilson 95 % interval (as fractions); over 0 courses the rate and
/// the interval are null, never 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub n: usize,
    pub of: usize,
    pub rate: Option<f64>,
    pub ci95: Option<[f64; 2]>,
}

impl Rate {
    pub fn new(n: usize, of: usize) -> Rate {
        Rate {
            n,
            of,
            rate: ratio(n, of),
            ci95: wilson(n, of),
        }
    }

    /// "k of n (x %)", or "k of n" when there is no rate: how every percentage is shown.
    pub fn text(&self) -> String {
        match self.rate {
            Some(p) => format!("{} of {} ({:.0} %)", self.n, self.of, p * 100.0),
            None => format!("{} of {}", self.n, self.of),
        }
    }

    /// The 95 % interval in words, for a tooltip or a footnote.
    pub fn ci_text(&self) -> String {
        match self.ci95 {
            Some([lo, hi]) => format!("95 % CI {:.0}–{:.0} % (Wilson)", lo * 100.0, hi * 100.0),
            None => "no courses observed: no rate".into(),
        }
    }
}

#[allow(clippy::cast_precision_loss)] // counts of courses
fn ratio(n: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

/// The Wilson score interval (Wilson 1927), clamped to [0, 1].
#[allow(clippy::cast_precision_loss)]
pub fn wilson(n: usize, of: usize) -> Option<[f64; 2]> {
    if of == 0 {
        return None;
    }
    let (k, m) = (n as f64, of as f64);
    let p = k / m;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * m)) / (1.0 + z2 / m);
    let half = Z95 * (p * (1.0 - p) / m + z2 / (4.0 * m * m)).sqrt() / (1.0 + z2 / m);
    // At 0 of n and n of n the bounds are exactly 0 and 1; rounding would leave 1e-16 off.
    let lo = if n == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if n == of {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Some([lo, hi])
}

/// One subject of a survival analysis: days followed, and whether the event happened then
/// (otherwise censored then).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Follow {
    pub days: i64,
    pub event: bool,
}

/// The Kaplan–Meier curve as `[day, survival]` steps, starting at `[0, 1]`, and the median:
/// the first day survival is at or below 0.5, or None if it never gets there.
#[allow(clippy::cast_precision_loss)]
pub fn kaplan_meier(subjects: &[Follow]) -> (Vec<[f64; 2]>, Option<i64>) {
    let mut times: Vec<i64> = subjects
        .iter()
        .filter(|s| s.event)
        .map(|s| s.days)
        .collect();
    times.sort_unstable();
    times.dedup();
    let mut curve = vec![[0.0, 1.0]];
    let mut survival = 1.0;
    let mut median = None;
    for t in times {
        let at_risk = subjects.iter().filter(|s| s.days >= t).count();
        let events = subjects.iter().filter(|s| s.event && s.days == t).count();
        if at_risk == 0 {
            continue;
        }
        survival *= 1.0 - events as f64 / at_risk as f64;
        curve.push([t as f64, survival]);
        if median.is_none() && survival <= 0.5 {
            median = Some(t);
        }
    }
    (curve, median)
}
