//! Change from baseline on one patient's series of one instrument: the response, remission and
//! reliable-change badges on the patient chart.
//!
//! The thresholds are data (the table below), each with the sentence and the source the chart
//! shows in a tooltip, because published definitions differ between instruments and sources
//! (shared/clinical/instruments.md §13 fact 7). Every instrument here scores higher = worse.
//!
//! Sources, as cited in shared/clinical/instruments.md (§1–4, §11) and
//! shared/clinical/kap-protocol.md (§1.3):
//! - response, ≥ 50 % fall from baseline, computed as (baseline − current) / baseline and only
//!   for a baseline above 0 (instruments.md §11): NCQA HEDIS DRR-E for the PHQ-9 [S8]; pooled GAD
//!   trials for the HAM-A [S25]; a convention by analogy for the GAD-7 (§2) and the PCL-5 (§3),
//!   as used for PHQ-9 and GAD-7 in KAP by Hull et al. 2022 (kap-protocol.md §1.3 [R7]);
//! - remission, a current total below 5 for the PHQ-9 (HEDIS DRR-E, CMS159 [S8]) and the GAD-7
//!   (band-edge convention, §2; Hull 2022 [R7]), below 8 for the HAM-A (≤ 7, pooled GAD trials
//!   [S25]), and below 33 for the PCL-5 (the top of the 31–33 probable-PTSD cut-off, Bovin 2016
//!   [S19]; kapstone's choice, as there is no official PCL-5 remission, §3);
//! - reliable improvement and reliable deterioration, a change of at least 6 points on the PHQ-9
//!   and 4 on the GAD-7 (NHS Talking Therapies / IAPT [S14]) and 15 on the PCL-5 (the low end of
//!   the 15–18 point RCI of Marx et al. 2022 [S20]); none for the HAM-A, which has no published
//!   RCI (§4).

/// One rule of a [`ChangeDefinition`], with what the chart shows about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangeRule {
    /// The number the rule compares against; its unit is given on the field that holds the rule.
    pub threshold: f64,
    /// One sentence for a clinician, e.g. in a tooltip next to the badge.
    pub text: &'static str,
    /// Where the rule comes from.
    pub source: &'static str,
}

/// The change rules kapstone applies to one instrument. A rule that is `None` does not exist for
/// that instrument, and the matching badge is not shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangeDefinition {
    pub instrument_id: &'static str,
    /// Threshold: the fraction of the baseline total the score must fall by.
    pub response: Option<ChangeRule>,
    /// Threshold: the current total must be strictly below it.
    pub remission: Option<ChangeRule>,
    /// Threshold: points the total must fall by.
    pub reliable_improvement: Option<ChangeRule>,
    /// Threshold: points the total must rise by.
    pub reliable_deterioration: Option<ChangeRule>,
}

const HALF_FALL: f64 = 0.5;

const DEFINITIONS: [ChangeDefinition; 4] = [
    ChangeDefinition {
        instrument_id: "phq9",
        response: Some(ChangeRule {
            threshold: HALF_FALL,
            text: "Response: the PHQ-9 total has fallen by 50% or more from baseline.",
            source: "NCQA HEDIS Depression Remission or Response (DRR-E); used in KAP by Hull et al. 2022, J Affect Disord 314:59-67.",
        }),
        remission: Some(ChangeRule {
            threshold: 5.0,
            text: "Remission: the PHQ-9 total is below 5 (0-4, no or minimal symptoms).",
            source: "NCQA HEDIS DRR-E; CMS159 / NQF 0710 depression remission measure.",
        }),
        reliable_improvement: Some(ChangeRule {
            threshold: 6.0,
            text: "Reliable improvement: the PHQ-9 total has fallen by 6 points or more from baseline, more than measurement error explains.",
            source: "NHS Talking Therapies (IAPT) definition of reliable improvement.",
        }),
        reliable_deterioration: Some(ChangeRule {
            threshold: 6.0,
            text: "Reliable deterioration: the PHQ-9 total has risen by 6 points or more from baseline, more than measurement error explains.",
            source: "NHS Talking Therapies (IAPT) reliable-change threshold, applied to worsening.",
        }),
    },
    ChangeDefinition {
        instrument_id: "gad7",
        response: Some(ChangeRule {
            threshold: HALF_FALL,
            text: "Response: the GAD-7 total has fallen by 50% or more from baseline.",
            source: "Common convention by analogy with the PHQ-9 (no definition from the GAD-7's developers); used in KAP by Hull et al. 2022, J Affect Disord 314:59-67.",
        }),
        remission: Some(ChangeRule {
            threshold: 5.0,
            text: "Remission: the GAD-7 total is below 5 (0-4, minimal anxiety).",
            source: "Common convention at the edge of the minimal band (Spitzer et al. 2006); used in KAP by Hull et al. 2022.",
        }),
        reliable_improvement: Some(ChangeRule {
            threshold: 4.0,
            text: "Reliable improvement: the GAD-7 total has fallen by 4 points or more from baseline, more than measurement error explains.",
            source: "NHS Talking Therapies (IAPT) definition of reliable improvement.",
        }),
        reliable_deterioration: Some(ChangeRule {
            threshold: 4.0,
            text: "Reliable deterioration: the GAD-7 total has risen by 4 points or more from baseline, more than measurement error explains.",
            source: "NHS Talking Therapies (IAPT) reliable-change threshold, applied to worsening.",
        }),
    },
    ChangeDefinition {
        instrument_id: "pcl5",
        response: Some(ChangeRule {
            threshold: HALF_FALL,
            text: "Response: the PCL-5 total has fallen by 50% or more from baseline.",
            source: "kapstone's choice, by analogy with the PHQ-9 and GAD-7: the PCL-5 has no official definition of response.",
        }),
        remission: Some(ChangeRule {
            threshold: 33.0,
            text: "Remission: the PCL-5 total is below 33, the probable-PTSD cut-off.",
            source: "kapstone's choice, as the PCL-5 has no official definition of remission: below the top of the 31-33 cut-off of Bovin et al. 2016, Psychol Assess 28:1379-1391.",
        }),
        reliable_improvement: Some(ChangeRule {
            threshold: 15.0,
            text: "Reliable improvement: the PCL-5 total has fallen by 15 points or more from baseline, more than measurement error explains.",
            source: "Marx et al. 2022, Psychol Assess 34:197-203 (reliable change index of 15-18 points; the lower bound is used).",
        }),
        reliable_deterioration: Some(ChangeRule {
            threshold: 15.0,
            text: "Reliable deterioration: the PCL-5 total has risen by 15 points or more from baseline, more than measurement error explains.",
            source: "Marx et al. 2022, Psychol Assess 34:197-203, applied to worsening.",
        }),
    },
    ChangeDefinition {
        instrument_id: "hama",
        response: Some(ChangeRule {
            threshold: HALF_FALL,
            text: "Response: the HAM-A total has fallen by 50% or more from baseline.",
            source: "Definition used in pooled trials in generalized anxiety disorder.",
        }),
        remission: Some(ChangeRule {
            threshold: 8.0,
            text: "Remission: the HAM-A total is below 8 (7 or less).",
            source: "Definition used in pooled trials in generalized anxiety disorder.",
        }),
        reliable_improvement: None,
        reliable_deterioration: None,
    },
];

/// The change rules for an instrument, or `None` when kapstone has none for it: screeners
/// (PHQ-2, GAD-2) are not outcome measures, and the other instruments either do not measure
/// change (ACE, ASQ) or do not score higher = worse (EBI).
pub fn definition(instrument_id: &str) -> Option<ChangeDefinition> {
    DEFINITIONS
        .iter()
        .find(|d| d.instrument_id == instrument_id)
        .copied()
}

/// The change from `baseline` to `current` on one instrument, with the definition it was
/// judged by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub baseline: f64,
    pub current: f64,
    /// `current − baseline`: negative is better.
    pub delta: f64,
    /// `delta` as a percentage of the baseline; `None` when the baseline is 0.
    pub percent: Option<f64>,
    /// `None` when the instrument has no response rule or the baseline is 0.
    pub response: Option<bool>,
    /// `None` when the instrument has no remission rule.
    pub remission: Option<bool>,
    /// `None` when the instrument has no reliable-change rule.
    pub reliable_improvement: Option<bool>,
    /// `None` when the instrument has no reliable-change rule.
    pub reliable_deterioration: Option<bool>,
    pub definition: ChangeDefinition,
}

/// The change between two totals of the same instrument, or `None` when kapstone has no change
/// definition for the instrument or a total is not a possible score (negative or not finite).
pub fn change(instrument_id: &str, baseline: f64, current: f64) -> Option<Change> {
    let definition = definition(instrument_id)?;
    let possible = |t: f64| t.is_finite() && t >= 0.0;
    if !possible(baseline) || !possible(current) {
        return None;
    }
    let delta = current - baseline;
    let fall = baseline - current;
    let has_baseline = baseline > 0.0;
    Some(Change {
        baseline,
        current,
        delta,
        percent: has_baseline.then(|| delta / baseline * 100.0),
        // Multiplying rather than dividing keeps the comparison exact at the threshold.
        response: definition
            .response
            .filter(|_| has_baseline)
            .map(|r| fall >= r.threshold * baseline),
        remission: definition.remission.map(|r| current < r.threshold),
        reliable_improvement: definition.reliable_improvement.map(|r| fall >= r.threshold),
        reliable_deterioration: definition
            .reliable_deterioration
            .map(|r| delta >= r.threshold),
        definition,
    })
}

#[cfg(test)]
mod tests;
