//! Mapping data values to pixels, and choosing round tick values.

/// A linear map from a data interval onto a pixel interval (which may run backwards, as a y axis
/// does).
#[derive(Debug, Clone, Copy)]
pub(super) struct Linear {
    from: f64,
    span: f64,
    to: f64,
    length: f64,
}

impl Linear {
    /// `domain` must have `lo < hi`; callers widen an empty domain first.
    pub(super) fn new(domain: (f64, f64), range: (f64, f64)) -> Linear {
        Linear {
            from: domain.0,
            span: domain.1 - domain.0,
            to: range.0,
            length: range.1 - range.0,
        }
    }

    pub(super) fn at(&self, value: f64) -> f64 {
        self.to + (value - self.from) / self.span * self.length
    }
}

/// A lower and upper bound with `lo < hi`, both finite.
pub(super) fn widen(lo: f64, hi: f64) -> (f64, f64) {
    match (lo.is_finite(), hi.is_finite()) {
        (true, true) if lo < hi => (lo, hi),
        (true, true) if lo == hi => (lo - 1.0, hi + 1.0),
        (true, _) => (lo, lo + 1.0),
        _ => (0.0, 1.0),
    }
}

/// Round values (steps of 1, 2 or 5 times a power of ten) from `lo` to `hi`, about `target` of
/// them. Steps never go below 0.1 because labels carry at most one decimal.
pub(super) fn nice_ticks(lo: f64, hi: f64, target: u32) -> Vec<f64> {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return vec![lo];
    }
    let wanted = f64::from(target.max(1));
    let magnitude = 10f64.powf((span / wanted).log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .map(|m| (m * magnitude).max(0.1))
        .into_iter()
        .min_by(|a, b| {
            let miss = |s: f64| (span / s - wanted).abs();
            miss(*a).total_cmp(&miss(*b))
        })
        .unwrap_or(1.0);
    let first = (lo / step).ceil();
    let last = (hi / step + 1e-9).floor();
    let mut ticks = Vec::new();
    let mut k = first;
    while k <= last && ticks.len() < 100 {
        ticks.push(k * step);
        k += 1.0;
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrument_ranges_get_round_ticks() {
        assert_eq!(nice_ticks(0.0, 27.0, 5), [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]);
        assert_eq!(nice_ticks(0.0, 21.0, 5), [0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(nice_ticks(0.0, 80.0, 5), [0.0, 20.0, 40.0, 60.0, 80.0]);
        assert_eq!(
            nice_ticks(0.0, 56.0, 5),
            [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
        );
        assert_eq!(nice_ticks(0.0, 6.0, 5), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(nice_ticks(-3.0, 180.0, 5), [0.0, 50.0, 100.0, 150.0]);
    }

    #[test]
    fn degenerate_ranges_give_one_tick_or_a_bounded_list() {
        assert_eq!(nice_ticks(3.0, 3.0, 5), [3.0]);
        assert_eq!(nice_ticks(0.0, 0.01, 5), [0.0]);
        assert!(nice_ticks(0.0, 1e12, 5).len() <= 100);
    }

    #[test]
    fn widened_domains_are_never_empty() {
        assert_eq!(widen(0.0, 27.0), (0.0, 27.0));
        assert_eq!(widen(4.0, 4.0), (3.0, 5.0));
        assert_eq!(widen(5.0, 1.0), (5.0, 6.0));
        assert_eq!(widen(f64::NAN, 1.0), (0.0, 1.0));
        assert_eq!(widen(2.0, f64::INFINITY), (2.0, 3.0));
    }

    #[test]
    fn the_map_runs_either_way() {
        let y = Linear::new((0.0, 20.0), (200.0, 0.0));
        assert_eq!(y.at(0.0), 200.0);
        assert_eq!(y.at(20.0), 0.0);
        assert_eq!(y.at(5.0), 150.0);
    }
}
