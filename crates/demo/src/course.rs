//! One synthetic course: indication, route, what happened at each encounter, and every
//! questionnaire answered along the way. Invented numbers chosen to look like the published KAP
//! cohorts (kap-protocol.md §1) — never evidence of anything.
//!
//! Choices, with the numbers used:
//!
//! **Indication** mdd 30 %, trd 25 %, ptsd 25 %, gad 15 %, other 5 %.
//!
//! **Route** by indication (per cent; sublingual, IM, IV, intranasal esketamine, oral):
//! trd 20/25/22/30/3, mdd 38/32/14/10/6, ptsd 42/38/14/0/6, gad 50/32/10/0/8, other 45/35/12/0/8.
//! Esketamine is licensed for depression only (kap-protocol.md §2.2), so only trd and mdd courses
//! get it. Over the indication mix: sublingual ≈ 37 %, IM ≈ 32 %, IV ≈ 15 %, esketamine ≈ 10 %,
//! oral ≈ 6 %.
//!
//! **Discontinuation** 8 % of courses stop at a missed encounter drawn uniformly from the second
//! preparation session to the last integration session. The course is discontinued on that day —
//! only once that day has come; until then it runs as planned. Reasons before any dose: moved
//! away, lost to contact, cost of treatment, decided not to proceed, medical contraindication at
//! review; after a dose: side effects (the commonest), moved away, lost to contact, cost of
//! treatment, no benefit felt.
//!
//! **Schedule of questionnaires** (instruments.md §12): baseline PHQ-9, GAD-7, ACE (first course
//! only; it is asked once in a life) and PCL-5 (every ptsd course, 30 % of the others) at the
//! second preparation visit, 7 days before dose 1; PHQ-9 and GAD-7 before doses 1, 3 and 5
//! (exactly weekly, never closer, because of their two-week recall); PCL-5 before doses 1 and 5
//! (every other week) on ptsd courses; PHQ-9, GAD-7 and, where given at baseline, PCL-5 at each
//! attended follow-up. Only days on or before `today` have answers.
//!
//! **Loss to follow-up** grows with time and is monotone: a course has one uniform draw `u`, and
//! misses follow-up *m* when `u < target[m] + shift`. Targets: 35 % missing at 1 month, 65 % at 3,
//! 85 % at 6 (the largest KAP cohort lost 82 % by 3 months and 95 % by 6 — kap-protocol.md §1 —
//! so these are kinder than reality, to leave a demo something to chart). It is missing not at
//! random, as in real cohorts: shift −5 points for responders, 0 for partial responders, +10 for
//! non-responders (these average out to about 0), so a completers-only analysis of the demo
//! flatters the treatment, which the outcome report must expose. A missed follow-up is an
//! encounter that did not take place.
//!
//! **Baseline severity** shares one latent severity `z` across instruments (correlation ≈ 0.36):
//! PHQ-9 ~ N(17 + shift, 4) clipped 3–27 with shift trd +1.5, mdd +0.5, ptsd −0.5, gad −2.5,
//! other −1 (≈ 0 over the mix); GAD-7 ~ N(14 + shift, 4) clipped 3–21 with shift gad +2, ptsd
//! +0.5, mdd and trd −0.5; PCL-5 ~ N(48, 12) on ptsd courses and N(34, 12) on others, clipped
//! 5–80.
//!
//! **Response** Each course draws a class: responder (final improvement 55–85 % of baseline),
//! partial responder (25–50 %) or non-responder (−10 to +20 %, so some worsen). Probabilities
//! 47 / 27 / 26 % when ACE < 4 and 57 / 25 / 18 % when ACE ≥ 4 (higher childhood adversity
//! responding better, as O'Brien 2019 and a 224-patient clinic study report and Johnson 2025 does
//! not — kap-protocol.md §1); overall ≈ 50 / 26 / 24 %. GAD-7 improvement is the PHQ-9 one
//! ± N(0, 0.07), PCL-5 is 0.9 × it ± N(0, 0.07). The share of improvement reached: 0 at
//! baseline, 5 % before dose 1, 55 % before dose 3, 85 % before dose 5, all of it by the end of
//! dosing (seen at 1 month), then 95 % at 3 months and 90 % at 6 months. 30 % of responders and
//! partial responders relapse — 40 % of those by 3 months, the rest by 6 — keeping only 0–35 % of
//! their improvement from then on.
//!
//! **Noise** per form: PHQ-9 N(0, 1.8), GAD-7 N(0, 1.6), PCL-5 N(0, 5); totals rounded and kept
//! inside the instrument's range.
//!
//! **PHQ-9 item 9** base rate 7.5 % at baseline and 5 % later, times a patient factor (3 for a
//! fifth of patients, 0.5 for the rest, mean 1) and the form's severity (`crate::forms`). With
//! totals above 24 forcing item 9 up, about 10–11 % of baseline forms and about 5 % of later ones
//! are positive: a minority chosen to be plausible, not fitted to any dataset, and enough for the
//! demo to show the item-9 safety alerts (instruments.md §1).

use crate::forms::{self, GAD7, GAD7_MAX, PCL5, PCL5_MAX, PHQ9, PHQ9_MAX};
use crate::model::{PROTOCOL, SyntheticAssessment, SyntheticCourse, SyntheticEncounter};
use crate::protocol::{
    ENCOUNTERS, FIRST_DOSE, FIRST_FOLLOW_UP, LAST_INTEGRATION, Schedule, kind_of,
};
use crate::rng::SplitMix64;
use jiff::civil::Date;
use kapstone_clinical::course::{CourseStatus, Indication, Route};

/// mdd, trd, ptsd, gad, other.
const INDICATIONS: [Indication; 5] = [
    Indication::Mdd,
    Indication::Trd,
    Indication::Ptsd,
    Indication::Gad,
    Indication::Other,
];
const INDICATION_WEIGHTS: [u32; 5] = [30, 25, 25, 15, 5];

const ROUTES: [Route; 5] = [
    Route::Sublingual,
    Route::Im,
    Route::Iv,
    Route::IntranasalEsketamine,
    Route::Oral,
];

fn route_weights(indication: Indication) -> [u32; 5] {
    match indication {
        Indication::Trd => [20, 25, 22, 30, 3],
        Indication::Mdd => [38, 32, 14, 10, 6],
        Indication::Ptsd => [42, 38, 14, 0, 6],
        Indication::Gad => [50, 32, 10, 0, 8],
        Indication::Other => [45, 35, 12, 0, 8],
    }
}

pub(crate) const DISCONTINUE_RATE: f64 = 0.08;
const REASONS_BEFORE_DOSING: [&str; 5] = [
    "moved away",
    "lost to contact",
    "cost of treatment",
    "decided not to proceed",
    "medical contraindication at review",
];
const REASONS_AFTER_DOSING: [&str; 5] = [
    "side effects",
    "moved away",
    "lost to contact",
    "cost of treatment",
    "no benefit felt",
];
const REASON_AFTER_WEIGHTS: [u32; 5] = [35, 15, 25, 10, 15];

/// Missing share at the 1-, 3- and 6-month follow-up.
pub const LOSS_TO_FOLLOW_UP: [f64; 3] = [0.35, 0.65, 0.85];

/// Share of non-ptsd courses that also take the PCL-5.
const PCL5_OTHER_RATE: f64 = 0.30;

const ITEM9_BASELINE: f64 = 0.075;
const ITEM9_LATER: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Responder,
    Partial,
    Non,
}

impl Class {
    fn draw(rng: &mut SplitMix64, ace_high: bool) -> Class {
        let weights = if ace_high { [57, 25, 18] } else { [47, 27, 26] };
        match rng.weighted(&weights) {
            0 => Class::Responder,
            1 => Class::Partial,
            _ => Class::Non,
        }
    }

    fn improvement(self, rng: &mut SplitMix64) -> f64 {
        match self {
            Class::Responder => rng.uniform(0.55, 0.85),
            Class::Partial => rng.uniform(0.25, 0.50),
            Class::Non => rng.uniform(-0.10, 0.20),
        }
    }

    fn loss_shift(self) -> f64 {
        match self {
            Class::Responder => -0.05,
            Class::Partial => 0.0,
            Class::Non => 0.10,
        }
    }
}

/// One instrument's course: baseline, final improvement, per-form noise, range.
#[derive(Debug, Clone, Copy)]
struct Track {
    baseline: f64,
    improvement: f64,
    noise: f64,
    max: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimePoint {
    Baseline,
    /// Dose number 1, 3 or 5.
    PreDose(usize),
    /// Follow-up index 0, 1, 2 (1, 3, 6 months).
    Month(usize),
}

impl TimePoint {
    fn label(self) -> String {
        match self {
            TimePoint::Baseline => "baseline".to_string(),
            TimePoint::PreDose(n) => format!("pre_dose_{n}"),
            TimePoint::Month(m) => format!("month_{}", crate::protocol::FOLLOW_UP_MONTHS[m]),
        }
    }
}

/// The patient-level facts a course needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PatientTraits {
    /// The ACE total, asked on the first course only.
    pub ace: i64,
    /// Multiplier on the PHQ-9 item-9 rate.
    pub item9_factor: f64,
}

impl PatientTraits {
    pub fn draw(rng: &mut SplitMix64) -> PatientTraits {
        PatientTraits {
            ace: draw_ace(rng),
            item9_factor: if rng.chance(0.2) { 3.0 } else { 0.5 },
        }
    }
}

/// ACE totals skewed as in clinical samples: 0 22 %, 1 17 %, 2 16 %, 3 15 %, then 4…10 at
/// 9, 7, 5, 4, 3, 1.5, 0.5 % (30 % at 4 or more).
fn draw_ace(rng: &mut SplitMix64) -> i64 {
    const WEIGHTS: [u32; 11] = [220, 170, 160, 150, 90, 70, 50, 40, 30, 15, 5];
    rng.weighted(&WEIGHTS) as i64
}

/// What the cohort needs to know about a course after drawing it.
pub(crate) struct Drawn {
    pub course: SyntheticCourse,
    /// A responder or partial responder who relapsed and was not discontinued.
    pub relapsed: bool,
    /// The planned day of the 6-month follow-up.
    pub last: Date,
}

pub(crate) struct CourseInput {
    pub start: Date,
    pub today: Date,
    /// `None` draws one from the mix; a re-treatment keeps the first course's.
    pub indication: Option<Indication>,
    pub first: bool,
    pub traits: PatientTraits,
}

pub(crate) fn draw(rng: &mut SplitMix64, input: &CourseInput) -> Drawn {
    let today = input.today;
    let indication = input
        .indication
        .unwrap_or_else(|| INDICATIONS[rng.weighted(&INDICATION_WEIGHTS)]);
    let route = ROUTES[rng.weighted(&route_weights(indication))];
    let schedule = Schedule::draw(rng, input.start);

    let stop = rng
        .chance(DISCONTINUE_RATE)
        .then(|| rng.range(1, LAST_INTEGRATION as i64) as usize);
    let reason = stop.map(|k| {
        if k > FIRST_DOSE {
            REASONS_AFTER_DOSING[rng.weighted(&REASON_AFTER_WEIGHTS)].to_string()
        } else {
            rng.pick(&REASONS_BEFORE_DOSING).to_string()
        }
    });

    let class = Class::draw(rng, input.traits.ace >= 4);
    let improvement = class.improvement(rng);
    let relapse_at =
        (class != Class::Non && rng.chance(0.30)).then(|| if rng.chance(0.40) { 1 } else { 2 });
    let relapse_keep = rng.uniform(0.0, 0.35);
    let loss_draw = rng.unit();
    let lost = |m: usize| loss_draw < LOSS_TO_FOLLOW_UP[m] + class.loss_shift();

    let z = rng.normal();
    let mut correlated = |mean: f64, sd: f64, lo: f64, hi: f64| {
        (mean + sd * (0.6 * z + 0.8 * rng.normal())).clamp(lo, hi)
    };
    let (phq_shift, gad_shift) = match indication {
        Indication::Trd => (1.5, -0.5),
        Indication::Mdd => (0.5, -0.5),
        Indication::Ptsd => (-0.5, 0.5),
        Indication::Gad => (-2.5, 2.0),
        Indication::Other => (-1.0, 0.0),
    };
    let phq_base = correlated(17.0 + phq_shift, 4.0, 3.0, 27.0);
    let gad_base = correlated(14.0 + gad_shift, 4.0, 3.0, 21.0);
    let ptsd = indication == Indication::Ptsd;
    let pcl_mean = if ptsd { 48.0 } else { 34.0 };
    let pcl_base = correlated(pcl_mean, 12.0, 5.0, 80.0);
    let pcl_given = ptsd || rng.chance(PCL5_OTHER_RATE);
    let phq = Track {
        baseline: phq_base,
        improvement,
        noise: 1.8,
        max: PHQ9_MAX,
    };
    let gad = Track {
        baseline: gad_base,
        improvement: improvement + rng.gauss(0.0, 0.07),
        noise: 1.6,
        max: GAD7_MAX,
    };
    let pcl = Track {
        baseline: pcl_base,
        improvement: 0.9 * improvement + rng.gauss(0.0, 0.07),
        noise: 5.0,
        max: PCL5_MAX,
    };

    let share = |tp: TimePoint| -> f64 {
        let reached = match tp {
            TimePoint::Baseline => 0.0,
            TimePoint::PreDose(1) => 0.05,
            TimePoint::PreDose(3) => 0.55,
            TimePoint::PreDose(_) => 0.85,
            TimePoint::Month(0) => 1.0,
            TimePoint::Month(1) => 0.95,
            TimePoint::Month(_) => 0.90,
        };
        match (tp, relapse_at) {
            (TimePoint::Month(m), Some(r)) if m >= r => reached * relapse_keep,
            _ => reached,
        }
    };
    let total = |rng: &mut SplitMix64, track: &Track, tp: TimePoint| -> i64 {
        let expected = track.baseline * (1.0 - track.improvement * share(tp));
        let noise = if tp == TimePoint::Baseline {
            0.0
        } else {
            rng.gauss(0.0, track.noise)
        };
        ((expected + noise).round() as i64).clamp(0, track.max)
    };

    // The encounters that took place: on or before today, before any discontinuation, and for
    // follow-ups, not lost.
    let stop_index = stop.unwrap_or(ENCOUNTERS);
    let took_place = |i: usize| {
        schedule.dates[i] <= today
            && i < stop_index
            && (i < FIRST_FOLLOW_UP || !lost(i - FIRST_FOLLOW_UP))
    };
    let encounters: Vec<SyntheticEncounter> = (0..ENCOUNTERS)
        .map(|i| {
            let (kind, sequence) = kind_of(i);
            SyntheticEncounter {
                kind,
                date: schedule.dates[i],
                sequence,
                completed: took_place(i),
            }
        })
        .collect();

    // Questionnaires at each time point whose visit took place.
    let mut visits: Vec<(TimePoint, usize)> = vec![(TimePoint::Baseline, 1)];
    for n in [1, 3, 5] {
        visits.push((TimePoint::PreDose(n), FIRST_DOSE + 2 * (n - 1)));
    }
    for m in 0..3 {
        visits.push((TimePoint::Month(m), FIRST_FOLLOW_UP + m));
    }
    let item9 = input.traits.item9_factor;
    let mut assessments = Vec::with_capacity(16);
    for (tp, index) in visits {
        if !took_place(index) {
            continue;
        }
        let date = schedule.dates[index];
        let mut add = |instrument: &'static str, answers: Vec<Option<i64>>| {
            assessments.push(SyntheticAssessment {
                instrument,
                date,
                time_point: tp.label(),
                answers,
            });
        };
        let rate = if tp == TimePoint::Baseline {
            ITEM9_BASELINE
        } else {
            ITEM9_LATER
        };
        let t = total(rng, &phq, tp);
        add(PHQ9, forms::phq9(rng, t, rate * item9));
        let t = total(rng, &gad, tp);
        add(GAD7, forms::gad7(rng, t));
        let pcl_due = match tp {
            TimePoint::Baseline | TimePoint::Month(_) => pcl_given,
            TimePoint::PreDose(n) => ptsd && n != 3,
        };
        if pcl_due {
            let t = total(rng, &pcl, tp);
            add(PCL5, forms::pcl5(rng, t));
        }
        if tp == TimePoint::Baseline && input.first {
            add(forms::ACE, forms::ace(rng, input.traits.ace));
        }
    }

    let history = schedule.history(today, stop);
    let status = history.last().map_or(CourseStatus::Screening, |h| h.0);
    let discontinued = status == CourseStatus::Discontinued;
    Drawn {
        relapsed: relapse_at.is_some() && stop.is_none(),
        last: schedule.last(),
        course: SyntheticCourse {
            indication,
            route,
            protocol: PROTOCOL,
            start: input.start,
            status,
            discontinued_reason: if discontinued { reason } else { None },
            history,
            encounters,
            assessments,
        },
    }
}
