//! The report's figures in words, shared by the dashboard, the HTML report and the PDF report
//! so that all three say the same thing the same way.

use super::{Durability, InstrumentReport, Measures, Rate, Subgroup};

/// The durability result in one sentence.
pub fn durability_text(d: &Durability) -> String {
    format!(
        "{} responders: {} lost the response, {} censored; median {}",
        d.events + d.censored,
        d.events,
        d.censored,
        d.median_days
            .map_or_else(|| "not reached".into(), |m| format!("{m} days"))
    )
}

/// Every subgroup with its label, ACE first.
pub fn subgroups(r: &InstrumentReport, ace_high_at: f64) -> Vec<(String, Subgroup)> {
    let mut out = vec![
        (format!("ACE ≥ {ace_high_at}"), r.ace_high),
        (format!("ACE < {ace_high_at}"), r.ace_low),
    ];
    for (prefix, map) in [
        ("indication", &r.indication),
        ("route", &r.route),
        ("sex", &r.sex),
    ] {
        for (k, s) in map {
            out.push((format!("{prefix}: {}", k.replace('_', " ")), *s));
        }
    }
    out
}

/// The column heads of a measures table after "When" and "Observed".
pub const MEASURE_HEADS: [&str; 5] = [
    "Mean change",
    "Response",
    "Remission",
    "MCID",
    "Reliable improvement",
];

/// A measures row: the windows then after each dose, each with its label.
pub fn measure_rows(r: &InstrumentReport) -> Vec<(String, &Measures)> {
    r.windows
        .iter()
        .map(|(id, m)| (id.clone(), m))
        .chain(
            r.after_dose
                .iter()
                .map(|(n, m)| (format!("after dose {n}"), m)),
        )
        .collect()
}

/// The four rates of a row; None where the instrument has no threshold.
pub fn measure_rates(m: &Measures) -> [Option<Rate>; 4] {
    [
        Some(m.response),
        Some(m.remission),
        m.mcid,
        m.reliable_improvement,
    ]
}

pub fn mean_change_text(m: &Measures) -> String {
    m.mean_change
        .map_or_else(|| "—".into(), |c| format!("{c:+.1}"))
}
