//! Screening: the contraindication checklist (labelled contraindications are hard stops,
//! precautions are relative and can be overridden with a written reason), the medication list
//! tagged by drug class with the interaction notes of kap-protocol.md §2.6, and the
//! eligibility decision a prescriber signs.

use super::{FieldError, optional_text};
use crate::vocab::vocab;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A labelled contraindication: cannot be overridden.
    Hard,
    /// A precaution or usual exclusion: the prescriber may proceed with a written reason.
    Relative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    pub id: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub source: &'static str,
}

const fn hard(id: &'static str, label: &'static str, source: &'static str) -> Condition {
    Condition {
        id,
        label,
        kind: Kind::Hard,
        source,
    }
}

const fn relative(id: &'static str, label: &'static str, source: &'static str) -> Condition {
    Condition {
        id,
        label,
        kind: Kind::Relative,
        source,
    }
}

/// kap-protocol.md §2.5.
pub const CONDITIONS: &[Condition] = &[
    hard(
        "aneurysmal_vascular_disease",
        "Aneurysmal vascular disease (thoracic or abdominal aorta, intracranial, peripheral)",
        "Spravato label [R20c]",
    ),
    hard(
        "arteriovenous_malformation",
        "Arteriovenous malformation",
        "Spravato label [R20c]",
    ),
    hard(
        "intracerebral_haemorrhage",
        "History of intracerebral haemorrhage",
        "Spravato label [R20c]",
    ),
    hard(
        "ketamine_hypersensitivity",
        "Hypersensitivity to ketamine or esketamine",
        "Spravato label [R20c]; ketamine injection label [R47b]",
    ),
    hard(
        "bp_rise_serious_hazard",
        "A significant rise in blood pressure would be a serious hazard",
        "Ketamine injection label (US) [R47b]",
    ),
    hard(
        "uncontrolled_hypertension",
        "Uncontrolled hypertension (above 180/100 mmHg at rest)",
        "Swiss ketamine label [R47c]",
    ),
    hard(
        "pre_eclampsia",
        "Pre-eclampsia or eclampsia",
        "Swiss ketamine label [R47c]",
    ),
    hard(
        "untreated_hyperthyroidism",
        "Untreated hyperthyroidism",
        "Swiss ketamine label [R47c]",
    ),
    relative(
        "psychosis",
        "History of or risk for psychosis",
        "Spravato: assess benefit/risk [R20]",
    ),
    relative(
        "bipolar_psychotic",
        "Mania or bipolar disorder with psychotic features",
        "kap-protocol.md §2.5",
    ),
    relative(
        "substance_use_disorder",
        "Active or recent (3 months) substance use disorder",
        "Field Trip exclusion [R3]",
    ),
    relative(
        "recent_suicidal_intent",
        "Recent suicidal intent or attempt",
        "Mindbloom exclusion [R7]",
    ),
    relative(
        "pregnancy",
        "Pregnancy",
        "Spravato: embryo-fetal toxicity, not recommended [R20b]",
    ),
    relative(
        "breastfeeding",
        "Breastfeeding",
        "Spravato: do not breastfeed [R20b]",
    ),
    relative(
        "cardiovascular_disease",
        "Uncontrolled cardiac, cardiovascular or cerebrovascular disease",
        "Spravato label [R24b]",
    ),
    relative(
        "hypertensive_encephalopathy",
        "History of hypertensive encephalopathy",
        "Spravato label [R24b]",
    ),
    relative(
        "hepatic_impairment",
        "Hepatic impairment (moderate: monitor longer; severe: not recommended)",
        "Spravato label [R24b]",
    ),
    relative(
        "interstitial_cystitis",
        "Interstitial or ulcerative cystitis",
        "Spravato label [R24b]",
    ),
    relative(
        "cognitive_impairment",
        "Cognitive impairment",
        "Spravato label [R24b]",
    ),
    relative("bmi_over_35", "BMI above 35", "Field Trip, relative [R3]"),
    relative(
        "raised_icp_iop",
        "Raised intracranial or intra-ocular pressure",
        "Anaesthesia texts [R47d]",
    ),
];

pub fn condition(id: &str) -> Option<&'static Condition> {
    CONDITIONS.iter().find(|c| c.id == id)
}

vocab!(
    DrugClass, "drug class" {
        Benzodiazepine = "benzodiazepine",
        Opioid = "opioid",
        CnsDepressant = "cns_depressant",
        Lamotrigine = "lamotrigine",
        Psychostimulant = "psychostimulant",
        Maoi = "maoi",
        Theophylline = "theophylline",
        Sympathomimetic = "sympathomimetic",
        CypInducer = "cyp_inducer",
        CypInhibitor = "cyp_inhibitor",
    }
);

impl DrugClass {
    /// The interaction note shown at screening and before every dosing session
    /// (kap-protocol.md §2.6).
    pub fn interaction(self) -> (&'static str, &'static str) {
        use DrugClass::*;
        match self {
            Benzodiazepine => (
                "Additive sedation and respiratory depression; may blunt the antidepressant response (>8 mg diazepam-equivalent/day predicted non-response in a retrospective study).",
                "[R20][R47b][R50][R51]",
            ),
            Opioid => (
                "Additive sedation and respiratory depression; opioids prolong recovery.",
                "[R20][R47b]",
            ),
            CnsDepressant => (
                "Additive sedation and respiratory depression (alcohol and other CNS depressants).",
                "[R20][R47b]",
            ),
            Lamotrigine => (
                "May reduce ketamine's adverse effects; effect on efficacy unknown.",
                "[R50]",
            ),
            Psychostimulant => ("Blood pressure rise: monitor closely.", "[R20][R25b]"),
            Maoi => (
                "Blood pressure rise: monitor closely (case series of marked rises).",
                "[R25c]",
            ),
            Theophylline => ("Lowers the seizure threshold: avoid.", "[R47b]"),
            Sympathomimetic => (
                "Sympathomimetics and vasopressin: monitor vitals.",
                "[R47b]",
            ),
            CypInducer => ("CYP3A4/CYP2B6 inducer: lower ketamine exposure.", "[R50]"),
            CypInhibitor => (
                "CYP3A4/CYP2B6 inhibitor: higher ketamine exposure.",
                "[R50]",
            ),
        }
    }
}

/// Common drug names and their classes, so a typed medication is tagged even when the
/// clinician does not pick a class. Not a formulary: an unknown name simply gets no tag.
const LEXICON: &[(&str, DrugClass)] = &[
    ("alprazolam", DrugClass::Benzodiazepine),
    ("clonazepam", DrugClass::Benzodiazepine),
    ("diazepam", DrugClass::Benzodiazepine),
    ("lorazepam", DrugClass::Benzodiazepine),
    ("temazepam", DrugClass::Benzodiazepine),
    ("chlordiazepoxide", DrugClass::Benzodiazepine),
    ("buprenorphine", DrugClass::Opioid),
    ("codeine", DrugClass::Opioid),
    ("fentanyl", DrugClass::Opioid),
    ("hydrocodone", DrugClass::Opioid),
    ("methadone", DrugClass::Opioid),
    ("morphine", DrugClass::Opioid),
    ("oxycodone", DrugClass::Opioid),
    ("tramadol", DrugClass::Opioid),
    ("zolpidem", DrugClass::CnsDepressant),
    ("gabapentin", DrugClass::CnsDepressant),
    ("pregabalin", DrugClass::CnsDepressant),
    ("quetiapine", DrugClass::CnsDepressant),
    ("lamotrigine", DrugClass::Lamotrigine),
    ("amphetamine", DrugClass::Psychostimulant),
    ("dextroamphetamine", DrugClass::Psychostimulant),
    ("lisdexamfetamine", DrugClass::Psychostimulant),
    ("methylphenidate", DrugClass::Psychostimulant),
    ("modafinil", DrugClass::Psychostimulant),
    ("armodafinil", DrugClass::Psychostimulant),
    ("isocarboxazid", DrugClass::Maoi),
    ("phenelzine", DrugClass::Maoi),
    ("selegiline", DrugClass::Maoi),
    ("tranylcypromine", DrugClass::Maoi),
    ("aminophylline", DrugClass::Theophylline),
    ("theophylline", DrugClass::Theophylline),
    ("pseudoephedrine", DrugClass::Sympathomimetic),
    ("phenylephrine", DrugClass::Sympathomimetic),
    ("carbamazepine", DrugClass::CypInducer),
    ("phenytoin", DrugClass::CypInducer),
    ("rifampicin", DrugClass::CypInducer),
    ("rifampin", DrugClass::CypInducer),
    ("st john's wort", DrugClass::CypInducer),
    ("clarithromycin", DrugClass::CypInhibitor),
    ("itraconazole", DrugClass::CypInhibitor),
    ("ketoconazole", DrugClass::CypInhibitor),
    ("ritonavir", DrugClass::CypInhibitor),
    ("ticlopidine", DrugClass::CypInhibitor),
];

/// The classes a medication name is known to belong to (case-insensitive, word match).
pub fn classes_of(name: &str) -> Vec<DrugClass> {
    let lower = name.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .collect();
    let mut out: Vec<DrugClass> = LEXICON
        .iter()
        .filter(|(n, _)| {
            if n.contains(' ') {
                lower.contains(n)
            } else {
                words.contains(n)
            }
        })
        .map(|(_, c)| *c)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A medication on the patient's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Medication {
    pub name: String,
    pub dose: Option<String>,
    /// Classes the clinician chose and the lexicon found, sorted.
    pub classes: Vec<String>,
    /// e.g. "hold 24 h before each dosing session"
    pub hold: Option<String>,
}

impl Medication {
    pub fn parse(
        name: &str,
        dose: &str,
        classes: &[&str],
        hold: &str,
    ) -> Result<Medication, FieldError> {
        let name = super::required_text("medication.name", name, 120)?;
        let mut all = classes_of(&name);
        for c in classes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
            all.push(DrugClass::parse(c)?);
        }
        all.sort();
        all.dedup();
        Ok(Medication {
            name,
            dose: optional_text("medication.dose", dose, 120)?,
            classes: all.iter().map(|c| c.as_str().to_string()).collect(),
            hold: optional_text("medication.hold", hold, 200)?,
        })
    }

    pub fn interactions(&self) -> Vec<Interaction> {
        self.classes
            .iter()
            .filter_map(|c| DrugClass::parse(c).ok())
            .map(|c| {
                let (note, source) = c.interaction();
                Interaction {
                    medication: self.name.clone(),
                    class: c,
                    note,
                    source,
                }
            })
            .collect()
    }
}

/// A warning shown at screening and before every dosing session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    pub medication: String,
    pub class: DrugClass,
    pub note: &'static str,
    pub source: &'static str,
}

vocab!(
    PregnancyStatus, "pregnancy_status" {
        NotApplicable = "not_applicable",
        NotPregnant = "not_pregnant",
        Pregnant = "pregnant",
        Breastfeeding = "breastfeeding",
        Unknown = "unknown",
    }
);

vocab!(
    Decision, "decision" {
        Eligible = "eligible",
        NotEligible = "not_eligible",
    }
);

/// One checklist answer: is the condition present, and if a relative one is present and the
/// patient is found eligible, why the prescriber proceeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub present: bool,
    pub override_reason: Option<String>,
}

/// Checks the checklist against the decision. Every screened condition must be answered; a
/// present hard contraindication forbids "eligible"; a present relative one needs a reason.
pub fn check_decision(
    answers: &[(&str, &str, &str)],
    precautions_off: &[String],
    pregnancy: PregnancyStatus,
    decision: Decision,
) -> Result<Vec<Finding>, FieldError> {
    for (id, _, _) in answers {
        if condition(id).is_none() {
            return Err(FieldError::new(
                format!("contraindication.{id}"),
                "is not a screening item",
            ));
        }
    }
    let mut out = Vec::new();
    for c in CONDITIONS {
        if c.kind == Kind::Relative && precautions_off.iter().any(|p| p == c.id) {
            continue;
        }
        let field = format!("contraindication.{}", c.id);
        let (present, reason) = match answers.iter().find(|(id, _, _)| *id == c.id) {
            Some((_, "yes", reason)) => (true, optional_text(&field, reason, 1000)?),
            Some((_, "no", _)) => (false, None),
            Some((_, other, _)) => {
                return Err(FieldError::new(
                    field,
                    format!("'{other}' is not allowed; allowed values: yes, no"),
                ));
            }
            None => {
                return Err(FieldError::new(field, "must be answered yes or no"));
            }
        };
        let contradicted = match c.id {
            "pregnancy" => pregnancy == PregnancyStatus::Pregnant && !present,
            "breastfeeding" => pregnancy == PregnancyStatus::Breastfeeding && !present,
            _ => false,
        };
        if contradicted {
            return Err(FieldError::new(
                field,
                format!("is answered no, but pregnancy_status is {pregnancy}"),
            ));
        }
        if present && decision == Decision::Eligible {
            match c.kind {
                Kind::Hard => {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "{} is a labelled contraindication and cannot be overridden; the decision can only be not_eligible",
                            c.label
                        ),
                    ));
                }
                Kind::Relative if reason.is_none() => {
                    return Err(FieldError::new(
                        field,
                        "is present: proceeding needs a written reason from the prescriber",
                    ));
                }
                Kind::Relative => {}
            }
        }
        out.push(Finding {
            id: c.id.to_string(),
            present,
            override_reason: if present { reason } else { None },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_no() -> Vec<(&'static str, &'static str, &'static str)> {
        CONDITIONS.iter().map(|c| (c.id, "no", "")).collect()
    }

    fn with(
        id: &'static str,
        reason: &'static str,
    ) -> Vec<(&'static str, &'static str, &'static str)> {
        all_no()
            .into_iter()
            .map(|(i, a, r)| {
                if i == id {
                    (i, "yes", reason)
                } else {
                    (i, a, r)
                }
            })
            .collect()
    }

    #[test]
    fn a_hard_contraindication_cannot_be_overridden() {
        let e = check_decision(
            &with("aneurysmal_vascular_disease", "benefit outweighs"),
            &[],
            PregnancyStatus::NotApplicable,
            Decision::Eligible,
        )
        .expect_err("hard");
        assert_eq!(e.field, "contraindication.aneurysmal_vascular_disease");
        assert!(e.message.contains("cannot be overridden"));
        assert!(
            check_decision(
                &with("aneurysmal_vascular_disease", ""),
                &[],
                PregnancyStatus::NotApplicable,
                Decision::NotEligible
            )
            .is_ok()
        );
    }

    #[test]
    fn a_relative_precaution_needs_a_written_reason() {
        let e = check_decision(
            &with("psychosis", " "),
            &[],
            PregnancyStatus::Unknown,
            Decision::Eligible,
        )
        .expect_err("reason");
        assert_eq!(e.field, "contraindication.psychosis");
        let ok = check_decision(
            &with(
                "psychosis",
                "single episode 2009, stable, psychiatrist agrees",
            ),
            &[],
            PregnancyStatus::Unknown,
            Decision::Eligible,
        )
        .expect("overridden");
        let f = ok.iter().find(|f| f.id == "psychosis").expect("finding");
        assert!(f.present && f.override_reason.is_some());
    }

    #[test]
    fn every_item_must_be_answered_unless_the_clinic_turned_it_off() {
        let mut answers = all_no();
        answers.retain(|(id, _, _)| *id != "bmi_over_35");
        let e = check_decision(&answers, &[], PregnancyStatus::Unknown, Decision::Eligible)
            .expect_err("missing");
        assert_eq!(e.field, "contraindication.bmi_over_35");
        let found = check_decision(
            &answers,
            &["bmi_over_35".into()],
            PregnancyStatus::Unknown,
            Decision::Eligible,
        )
        .expect("turned off");
        assert!(found.iter().all(|f| f.id != "bmi_over_35"));
        let mut maybe = all_no();
        maybe[0].1 = "maybe";
        assert!(
            check_decision(&maybe, &[], PregnancyStatus::Unknown, Decision::Eligible)
                .expect_err("yes/no")
                .message
                .contains("allowed values: yes, no")
        );
    }

    #[test]
    fn pregnancy_status_and_checklist_must_agree() {
        let e = check_decision(
            &all_no(),
            &[],
            PregnancyStatus::Pregnant,
            Decision::Eligible,
        )
        .expect_err("contradiction");
        assert_eq!(e.field, "contraindication.pregnancy");
    }

    #[test]
    fn medications_are_tagged_and_carry_interaction_notes() {
        let m = Medication::parse("Lorazepam", "1 mg at night", &[], "hold 24 h").expect("valid");
        assert_eq!(m.classes, ["benzodiazepine"]);
        let notes = m.interactions();
        assert_eq!(notes.len(), 1);
        assert!(notes[0].note.contains("respiratory depression"));
        let s = Medication::parse("Adderall XR", "", &["psychostimulant"], "").expect("valid");
        assert_eq!(s.classes, ["psychostimulant"]);
        assert!(
            Medication::parse("Sertraline", "", &[], "")
                .expect("valid")
                .interactions()
                .is_empty()
        );
        assert_eq!(
            Medication::parse("X", "", &["sedative"], "")
                .expect_err("class")
                .field,
            "drug class"
        );
        assert_eq!(
            Medication::parse(" ", "", &[], "").expect_err("name").field,
            "medication.name"
        );
    }
}
