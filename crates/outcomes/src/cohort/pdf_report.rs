//! The cohort report as a PDF: the same numbers, definitions and charts as the HTML report.

use super::present::{
    MEASURE_HEADS, durability_text, mean_change_text, measure_rates, measure_rows, subgroups,
};
use super::{CohortReport, Definitions, charts};
use crate::pdf::{Font, Pdf};

/// `name` gives an instrument's display name from its id.
pub fn report_pdf(
    report: &CohortReport,
    defs: &Definitions,
    synthetic: bool,
    name: &dyn Fn(&str) -> String,
) -> Vec<u8> {
    let footer = if synthetic {
        "kapstone outcome report · SYNTHETIC DATA, not patients"
    } else {
        "kapstone outcome report"
    };
    let mut pdf = Pdf::new("kapstone outcome report", footer);
    pdf.paragraph("Outcome report", Font::Bold, 18.0, 0.0);
    if synthetic {
        pdf.paragraph(
            "Synthetic data. These figures come from the synthetic demo cohort, not from patients.",
            Font::Bold,
            11.0,
            0.0,
        );
    }
    pdf.paragraph(
        &format!(
            "Definitions: {}. {} courses, {} with at least one dose. Every percentage is \"k of n\", n being the courses observed, with its Wilson 95 % interval below it.",
            defs.name, report.courses, report.courses_with_dose
        ),
        Font::Regular,
        10.0,
        0.0,
    );
    if let Some(c) = &defs.citation {
        pdf.paragraph(&format!("Preset: {c}"), Font::Regular, 9.0, 0.0);
    }
    let cols = [0.0, 62.0, 122.0, 180.0, 259.0, 338.0, 417.0];
    for r in &report.instruments {
        pdf.space(10.0);
        pdf.ensure(120.0);
        pdf.paragraph(&name(&r.instrument), Font::Bold, 14.0, 0.0);
        pdf.paragraph(
            &format!(
                "With a baseline: {} · eligible (baseline at or above caseness): {}",
                r.with_baseline, r.eligible
            ),
            Font::Regular,
            10.0,
            0.0,
        );
        let mut heads = vec!["When".to_string(), "Observed".into()];
        heads.extend(MEASURE_HEADS.iter().map(|h| (*h).to_string()));
        let head_cells: Vec<(f64, Vec<String>)> =
            cols.iter().zip(heads).map(|(x, h)| (*x, vec![h])).collect();
        pdf.row(&head_cells, Font::Bold, 7.5);
        for (label, m) in measure_rows(r) {
            let mut cells = vec![
                (cols[0], vec![label]),
                (cols[1], vec![format!("{} of {}", m.observed, r.eligible)]),
                (cols[2], vec![mean_change_text(m)]),
            ];
            for (x, rate) in cols[3..].iter().zip(measure_rates(m)) {
                cells.push((
                    *x,
                    rate.map_or_else(
                        || vec!["—".into()],
                        |rt| {
                            let ci = rt.ci95.map_or_else(
                                || "no rate".into(),
                                |[lo, hi]| format!("CI {:.0}–{:.0} %", lo * 100.0, hi * 100.0),
                            );
                            vec![rt.text(), ci]
                        },
                    ),
                ));
            }
            pdf.row(&cells, Font::Regular, 7.5);
        }
        if r.eligible > 0 {
            pdf.space(6.0);
            pdf.figure(&charts::rates(r));
            pdf.figure(&charts::waterfall(
                r,
                &defs.subgroup_window,
                defs.response_fraction,
            ));
            pdf.figure(&charts::funnel(r));
        }
        pdf.paragraph("Durability of response", Font::Bold, 11.0, 0.0);
        pdf.paragraph(&durability_text(&r.durability), Font::Regular, 10.0, 0.0);
        if r.eligible > 0 {
            pdf.figure(&charts::km(&r.durability.km));
        }
        pdf.paragraph(
            &format!("Subgroups at {}", defs.subgroup_window),
            Font::Bold,
            11.0,
            0.0,
        );
        pdf.row(
            &[
                (0.0, vec!["Subgroup".into()]),
                (160.0, vec!["Observed".into()]),
                (240.0, vec!["Response".into()]),
            ],
            Font::Bold,
            8.0,
        );
        for (label, s) in subgroups(r, defs.ace_high_at) {
            pdf.row(
                &[
                    (0.0, vec![label]),
                    (160.0, vec![s.observed.to_string()]),
                    (240.0, vec![s.response.text(), s.response.ci_text()]),
                ],
                Font::Regular,
                8.0,
            );
        }
    }
    pdf.space(10.0);
    pdf.ensure(80.0);
    pdf.paragraph("Definitions", Font::Bold, 14.0, 0.0);
    for t in &defs.text {
        pdf.paragraph(&format!("• {t}"), Font::Regular, 9.0, 0.0);
    }
    for rule in &defs.instruments {
        pdf.paragraph(
            &format!("• {}: {}", name(&rule.id), rule.source),
            Font::Regular,
            9.0,
            0.0,
        );
    }
    if !defs.design_notes.is_empty() {
        pdf.paragraph(
            "Where this clinic's data cannot match the study",
            Font::Bold,
            11.0,
            0.0,
        );
        for t in &defs.design_notes {
            pdf.paragraph(&format!("• {t}"), Font::Regular, 9.0, 0.0);
        }
    }
    pdf.finish()
}
