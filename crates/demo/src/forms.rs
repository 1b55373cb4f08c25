//! Turning a target total into a filled-in form whose item answers sum to exactly that total.
//!
//! Item layouts match the built-in library (`instruments/*.toml`); a test checks every form
//! against it. Units of the total are dealt one at a time to items that still have room, each
//! item chosen with a fixed weight, so answers spread across items the way real responses do
//! (no item pinned at its maximum while others sit at 0) and the commonest symptoms run a little
//! higher. The weights are plausible orderings, not fitted to any dataset.
//!
//! Choices:
//! - PHQ-9 item 9 (thoughts of death or self-harm) is decided first: positive with probability
//!   `rate × patient factor × min(total / 17, 1.5)`, never on a total below 5; when positive it is
//!   1 (75 %), 2 (18 %) or 3 (7 %). Rates are set by `crate::course` (10 % at baseline, fewer
//!   later). Totals above 24 force item 9 up, since items 1–8 hold at most 24.
//! - The unscored "how difficult" item (PHQ-9 item 10, GAD-7 item 8) is always answered, tracking
//!   the total's quarter of the range, give or take one step.
//! - 2 % of forms leave one scored item unanswered, so they are incomplete and get no total; on a
//!   PHQ-9 that item is never item 9, so the safety question is always answered.
//! - ACE: the total is the number of "yes" categories, chosen without replacement with weights
//!   near the category prevalences of the original ACE study (Felitti 1998): divorce, household
//!   substance use and physical abuse common, incarceration rare.

use crate::rng::SplitMix64;

pub(crate) const PHQ9: &str = "phq9";
pub(crate) const GAD7: &str = "gad7";
pub(crate) const PCL5: &str = "pcl5";
pub(crate) const ACE: &str = "ace";

pub(crate) const PHQ9_MAX: i64 = 27;
pub(crate) const GAD7_MAX: i64 = 21;
pub(crate) const PCL5_MAX: i64 = 80;

/// Share of forms with one scored item left blank.
pub(crate) const INCOMPLETE_RATE: f64 = 0.02;

/// PHQ-9 items 1–8: sleep (3) and tiredness (4) highest, psychomotor change (8) lowest.
const PHQ9_WEIGHTS: [u32; 8] = [10, 11, 13, 14, 9, 10, 9, 5];
/// GAD-7 items 1–7: nervousness (1), worrying too much (3) and irritability (6) highest.
const GAD7_WEIGHTS: [u32; 7] = [12, 10, 12, 10, 7, 11, 8];
/// PCL-5 items 1–20: intrusive memories, avoidance, hypervigilance and sleep highest; amnesia
/// (8) and risk-taking (16) lowest.
const PCL5_WEIGHTS: [u32; 20] = [
    12, 9, 7, 12, 10, 12, 12, 6, 10, 9, 11, 11, 10, 8, 9, 5, 12, 10, 10, 12,
];
/// ACE items 1–10, roughly the category prevalences in Felitti 1998 (in %).
const ACE_WEIGHTS: [u32; 10] = [11, 28, 21, 15, 10, 23, 13, 27, 19, 5];

/// Item 9's value when positive: 1, 2, 3 in 75 / 18 / 7 %.
const ITEM9_VALUES: [u32; 3] = [75, 18, 7];

/// Deal `total` units over `slots` (each capped at `max`) by `weights`. Plain index loops: this
/// is the generator's inner loop and must stay quick in debug builds.
fn spread(rng: &mut SplitMix64, total: i64, max: i64, weights: &[u32], slots: &mut [i64]) {
    let n = slots.len().min(weights.len());
    let mut free: u64 = 0;
    for i in 0..n {
        if slots[i] < max {
            free += u64::from(weights[i]);
        }
    }
    let mut left = total.clamp(0, max * n as i64);
    while left > 0 && free > 0 {
        let mut r = rng.below(free);
        let mut i = 0;
        while i < n {
            if slots[i] < max {
                let w = u64::from(weights[i]);
                if r < w {
                    break;
                }
                r -= w;
            }
            i += 1;
        }
        let i = i.min(n - 1);
        slots[i] += 1;
        if slots[i] == max {
            free -= u64::from(weights[i]);
        }
        left -= 1;
    }
}

/// The unscored difficulty item: 0–3 following the total's quarter of its range, ±1.
fn difficulty(rng: &mut SplitMix64, total: i64, max_total: i64) -> i64 {
    let base = (total * 4 / (max_total + 1)).clamp(0, 3);
    let nudge = match rng.weighted(&[20, 60, 20]) {
        0 => -1,
        2 => 1,
        _ => 0,
    };
    (base + nudge).clamp(0, 3)
}

/// Blank one scored item (1-based numbers in `1..=scored`, never `keep`) on a small share of forms.
fn maybe_blank(
    rng: &mut SplitMix64,
    answers: &mut [Option<i64>],
    scored: usize,
    keep: Option<usize>,
) {
    if !rng.chance(INCOMPLETE_RATE) {
        return;
    }
    let choices = scored - usize::from(keep.is_some());
    let mut i = rng.below(choices as u64) as usize + 1;
    if keep.is_some_and(|k| i >= k) {
        i += 1;
    }
    answers[i - 1] = None;
}

/// A PHQ-9 (10 answers) totalling `total`; item 9 positive with probability `item9_p` scaled as
/// the module doc says.
pub(crate) fn phq9(rng: &mut SplitMix64, total: i64, item9_p: f64) -> Vec<Option<i64>> {
    let total = total.clamp(0, PHQ9_MAX);
    let scale = (total as f64 / 17.0).min(1.5);
    let mut item9 = 0;
    if total >= 5 && rng.chance(item9_p * scale) {
        item9 = rng.weighted(&ITEM9_VALUES) as i64 + 1;
    }
    item9 = item9.min(total).max(total - 24);
    let mut items = [0i64; 8];
    spread(rng, total - item9, 3, &PHQ9_WEIGHTS, &mut items);
    let mut answers: Vec<Option<i64>> = items.iter().map(|&v| Some(v)).collect();
    answers.push(Some(item9));
    answers.push(Some(difficulty(rng, total, PHQ9_MAX)));
    maybe_blank(rng, &mut answers, 9, Some(9));
    answers
}

/// A GAD-7 (8 answers) totalling `total`.
pub(crate) fn gad7(rng: &mut SplitMix64, total: i64) -> Vec<Option<i64>> {
    let total = total.clamp(0, GAD7_MAX);
    let mut items = [0i64; 7];
    spread(rng, total, 3, &GAD7_WEIGHTS, &mut items);
    let mut answers: Vec<Option<i64>> = items.iter().map(|&v| Some(v)).collect();
    answers.push(Some(difficulty(rng, total, GAD7_MAX)));
    maybe_blank(rng, &mut answers, 7, None);
    answers
}

/// A PCL-5 (20 answers, 0–4 each) totalling `total`.
pub(crate) fn pcl5(rng: &mut SplitMix64, total: i64) -> Vec<Option<i64>> {
    let mut items = [0i64; 20];
    spread(rng, total, 4, &PCL5_WEIGHTS, &mut items);
    let mut answers: Vec<Option<i64>> = items.iter().map(|&v| Some(v)).collect();
    maybe_blank(rng, &mut answers, 20, None);
    answers
}

/// An ACE questionnaire (10 yes/no answers) with `total` yeses.
pub(crate) fn ace(rng: &mut SplitMix64, total: i64) -> Vec<Option<i64>> {
    let mut weights = ACE_WEIGHTS;
    let mut answers = vec![Some(0); 10];
    for _ in 0..total.clamp(0, 10) {
        let i = rng.weighted(&weights);
        answers[i] = Some(1);
        weights[i] = 0;
    }
    maybe_blank(rng, &mut answers, 10, None);
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &[Option<i64>], n: usize) -> i64 {
        a.iter().take(n).flatten().sum()
    }

    #[test]
    fn complete_forms_sum_exactly_to_the_target() {
        let mut rng = SplitMix64::new(5);
        for t in 0..=PHQ9_MAX {
            for _ in 0..40 {
                let a = phq9(&mut rng, t, 0.5);
                if a.iter().take(9).all(Option::is_some) {
                    assert_eq!(sum(&a, 9), t);
                }
                assert!(a[8].is_some(), "item 9 is never left blank");
                assert!(a.iter().flatten().all(|v| (0..=3).contains(v)));
            }
        }
        for t in 0..=PCL5_MAX {
            let a = pcl5(&mut rng, t);
            if a.iter().all(Option::is_some) {
                assert_eq!(sum(&a, 20), t);
            }
            assert!(a.iter().flatten().all(|v| (0..=4).contains(v)));
        }
        for t in 0..=GAD7_MAX {
            let a = gad7(&mut rng, t);
            if a.iter().take(7).all(Option::is_some) {
                assert_eq!(sum(&a, 7), t);
            }
        }
        for t in 0..=10 {
            let a = ace(&mut rng, t);
            if a.iter().all(Option::is_some) {
                assert_eq!(sum(&a, 10), t);
            }
        }
    }

    #[test]
    fn answers_spread_rather_than_pile_up() {
        let mut rng = SplitMix64::new(9);
        let a = phq9(&mut rng, 16, 0.0);
        let nonzero = a.iter().take(8).flatten().filter(|&&v| v > 0).count();
        assert!(nonzero >= 6, "{a:?}");
    }
}
