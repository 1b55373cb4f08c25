//! The on-disk shape of an instrument data file (TOML), exactly as written by people.
//! Nothing here is trusted: `definition::Instrument::from_file` turns it into a checked instrument.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstrumentFile {
    pub id: String,
    pub version: String,
    pub name: String,
    pub short_name: String,
    pub rater: String,
    pub recall_period: String,
    pub wording: String,
    #[serde(default)]
    pub instructions: String,
    pub source: String,
    pub licence: String,
    pub scoring_rule: String,
    #[serde(default)]
    pub band_source: Option<String>,
    #[serde(default)]
    pub loinc: LoincFile,
    pub answer_sets: BTreeMap<String, AnswerSetFile>,
    pub items: Vec<ItemFile>,
    pub scoring: ScoringFile,
    #[serde(default)]
    pub bands: Vec<BandFile>,
    #[serde(default)]
    pub subscales: Vec<SubscaleFile>,
    #[serde(default)]
    pub flags: Vec<FlagFile>,
    #[serde(default)]
    pub screen: Option<ScreenFile>,
    #[serde(default)]
    pub provisional_diagnosis: Option<ProvisionalFile>,
    #[serde(default)]
    pub risk: Option<RiskFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoincFile {
    pub panel: Option<String>,
    pub total: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnswerSetFile {
    pub options: Option<Vec<OptionFile>>,
    pub range: Option<RangeFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OptionFile {
    pub value: i64,
    pub label: String,
    pub loinc: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RangeFile {
    pub min: i64,
    pub max: i64,
    #[serde(default)]
    pub min_label: String,
    #[serde(default)]
    pub max_label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ItemFile {
    pub number: u16,
    pub text: String,
    pub answers: String,
    pub loinc: Option<String>,
    #[serde(default = "yes")]
    pub scored: bool,
    #[serde(default)]
    pub optional: bool,
    pub asked_when: Option<ConditionFile>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScoringFile {
    pub method: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BandFile {
    pub id: String,
    pub label: String,
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscaleFile {
    pub id: String,
    pub label: String,
    pub items: Vec<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlagFile {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub alert: bool,
    pub when: ConditionFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScreenFile {
    pub positive_at_least: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProvisionalFile {
    pub key: String,
    pub symptom_at_least: i64,
    pub clusters: Vec<ClusterFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterFile {
    pub subscale: String,
    pub min_symptoms: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RiskFile {
    pub levels: Vec<RiskLevelFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RiskLevelFile {
    pub id: String,
    pub when: ConditionFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionFile {
    pub item: Option<u16>,
    pub any_of: Option<Vec<u16>>,
    pub all_of: Option<Vec<u16>>,
    pub at_least: Option<i64>,
    pub at_most: Option<i64>,
    #[serde(default)]
    pub and: Vec<ConditionFile>,
}

/// `ID.wording.toml`: licensed text a clinic supplies for an instrument shipped with labels only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WordingFile {
    pub instrument: String,
    pub instructions: Option<String>,
    pub items: Vec<WordingItemFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WordingItemFile {
    pub number: u16,
    pub text: String,
}
