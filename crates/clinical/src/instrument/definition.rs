//! A checked instrument definition: built from a data file, then trusted by the scoring engine.

use super::condition::{Bound, Condition, Quantifier};
use super::file::{
    AnswerSetFile, ConditionFile, InstrumentFile, ItemFile, ProvisionalFile, RiskFile,
};
use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rater {
    SelfReport,
    Clinician,
}

impl Rater {
    pub fn as_str(self) -> &'static str {
        match self {
            Rater::SelfReport => "self",
            Rater::Clinician => "clinician",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// The published wording, free to reproduce.
    Official,
    /// Short labels only: the licensed wording is not shipped.
    LabelsOnly,
    /// Licensed wording supplied by the clinic in `ID.wording.toml`.
    ClinicSupplied,
}

impl Wording {
    pub fn as_str(self) -> &'static str {
        match self {
            Wording::Official => "official",
            Wording::LabelsOnly => "labels_only",
            Wording::ClinicSupplied => "clinic_supplied",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Total = sum of the scored items.
    Sum,
    /// Total = mean of the scored items (reported on the item scale).
    Mean,
    /// No total: the result is a risk level.
    None,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Sum => "sum",
            Method::Mean => "mean",
            Method::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerOption {
    pub value: i64,
    pub label: String,
    pub loinc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerSet {
    Options(Vec<AnswerOption>),
    Range {
        min: i64,
        max: i64,
        min_label: String,
        max_label: String,
    },
}

impl AnswerSet {
    pub fn allows(&self, value: i64) -> bool {
        match self {
            AnswerSet::Options(opts) => opts.iter().any(|o| o.value == value),
            AnswerSet::Range { min, max, .. } => (*min..=*max).contains(&value),
        }
    }

    pub fn min(&self) -> i64 {
        match self {
            AnswerSet::Options(opts) => opts.iter().map(|o| o.value).min().unwrap_or(0),
            AnswerSet::Range { min, .. } => *min,
        }
    }

    pub fn max(&self) -> i64 {
        match self {
            AnswerSet::Options(opts) => opts.iter().map(|o| o.value).max().unwrap_or(0),
            AnswerSet::Range { max, .. } => *max,
        }
    }

    /// The label of an allowed value, for display.
    pub fn label_of(&self, value: i64) -> Option<&str> {
        match self {
            AnswerSet::Options(opts) => opts
                .iter()
                .find(|o| o.value == value)
                .map(|o| o.label.as_str()),
            AnswerSet::Range { .. } => None,
        }
    }
}

/// "0 (Not at all), 1 (Several days)…" or "an integer from 0 to 100": used in every error message.
impl fmt::Display for AnswerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerSet::Options(opts) => {
                let list = opts
                    .iter()
                    .map(|o| format!("{} ({})", o.value, o.label))
                    .collect::<Vec<_>>()
                    .join(", ");
                f.write_str(&list)
            }
            AnswerSet::Range { min, max, .. } => write!(f, "an integer from {min} to {max}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub number: u16,
    pub text: String,
    pub answers: AnswerSet,
    pub loinc: Option<String>,
    pub scored: bool,
    pub optional: bool,
    pub asked_when: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    pub id: String,
    pub label: String,
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscale {
    pub id: String,
    pub label: String,
    pub items: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub id: String,
    pub label: String,
    /// Raising it opens an alert that a clinician must acknowledge.
    pub alert: bool,
    pub when: Condition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionalRule {
    /// The key the result is reported under, e.g. `provisional_ptsd`.
    pub key: String,
    pub symptom_at_least: i64,
    /// (subscale id, minimum number of symptomatic items)
    pub clusters: Vec<(String, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskLevel {
    pub id: String,
    pub when: Condition,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loinc {
    pub panel: Option<String>,
    pub total: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    pub id: String,
    pub version: String,
    pub name: String,
    pub short_name: String,
    pub rater: Rater,
    pub recall_period: String,
    pub wording: Wording,
    pub instructions: String,
    pub source: String,
    pub licence: String,
    pub scoring_rule: String,
    pub band_source: Option<String>,
    pub loinc: Loinc,
    pub items: Vec<Item>,
    pub method: Method,
    pub bands: Vec<Band>,
    pub subscales: Vec<Subscale>,
    pub flags: Vec<Flag>,
    pub screen_positive_at_least: Option<i64>,
    pub provisional: Option<ProvisionalRule>,
    pub risk: Vec<RiskLevel>,
}

/// A problem in an instrument data file, naming the file and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instrument file {file}: {field}: {message}")]
pub struct DefinitionError {
    pub file: String,
    pub field: String,
    pub message: String,
}

struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> DefinitionError {
        DefinitionError {
            file: self.file.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn text(&self, field: &str, value: &str) -> Result<String, DefinitionError> {
        if value.trim().is_empty() {
            return Err(self.err(field, "must not be empty"));
        }
        Ok(value.to_string())
    }

    fn id(&self, field: &str, value: &str) -> Result<String, DefinitionError> {
        let ok = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && value.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if !ok {
            return Err(self.err(
                field,
                format!(
                    "'{value}' is not a valid id; use lower-case letters, digits and '_', starting with a letter"
                ),
            ));
        }
        Ok(value.to_string())
    }

    fn loinc(
        &self,
        field: &str,
        value: &Option<String>,
    ) -> Result<Option<String>, DefinitionError> {
        let Some(code) = value else { return Ok(None) };
        let body = code.strip_prefix("LA").unwrap_or(code);
        let valid = body.split_once('-').is_some_and(|(num, check)| {
            !num.is_empty()
                && num.len() <= 7
                && num.chars().all(|c| c.is_ascii_digit())
                && check.len() == 1
                && check.chars().all(|c| c.is_ascii_digit())
        });
        if !valid {
            return Err(self.err(
                field,
                format!("'{code}' is not a LOINC code (expected digits-checkdigit, e.g. 44261-6 or LA6568-5)"),
            ));
        }
        Ok(Some(code.clone()))
    }
}

impl Instrument {
    /// Parse and check one instrument data file. `file` names it in error messages.
    pub fn from_toml(file: &str, text: &str) -> Result<Instrument, DefinitionError> {
        let raw: InstrumentFile = toml::from_str(text).map_err(|e| DefinitionError {
            file: file.to_string(),
            field: "toml".to_string(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        Self::from_file(file, raw)
    }

    fn from_file(file: &str, raw: InstrumentFile) -> Result<Instrument, DefinitionError> {
        let ck = Checker { file };
        let id = ck.id("id", &raw.id)?;
        let rater = match raw.rater.as_str() {
            "self" => Rater::SelfReport,
            "clinician" => Rater::Clinician,
            other => {
                return Err(ck.err(
                    "rater",
                    format!("'{other}' is not allowed; allowed values: self, clinician"),
                ));
            }
        };
        let wording = match raw.wording.as_str() {
            "official" => Wording::Official,
            "labels_only" => Wording::LabelsOnly,
            other => {
                return Err(ck.err(
                    "wording",
                    format!("'{other}' is not allowed; allowed values: official, labels_only"),
                ));
            }
        };
        let method = match raw.scoring.method.as_str() {
            "sum" => Method::Sum,
            "mean" => Method::Mean,
            "none" => Method::None,
            other => {
                return Err(ck.err(
                    "scoring.method",
                    format!("'{other}' is not allowed; allowed values: sum, mean, none"),
                ));
            }
        };

        let items = check_items(&ck, &raw, method)?;
        let n = items.len();
        let mut inst = Instrument {
            id,
            version: ck.text("version", &raw.version)?,
            name: ck.text("name", &raw.name)?,
            short_name: ck.text("short_name", &raw.short_name)?,
            rater,
            recall_period: ck.text("recall_period", &raw.recall_period)?,
            wording,
            instructions: raw.instructions.clone(),
            source: ck.text("source", &raw.source)?,
            licence: ck.text("licence", &raw.licence)?,
            scoring_rule: ck.text("scoring_rule", &raw.scoring_rule)?,
            band_source: raw.band_source.clone(),
            loinc: Loinc {
                panel: ck.loinc("loinc.panel", &raw.loinc.panel)?,
                total: ck.loinc("loinc.total", &raw.loinc.total)?,
            },
            items,
            method,
            bands: vec![],
            subscales: vec![],
            flags: vec![],
            screen_positive_at_least: None,
            provisional: None,
            risk: vec![],
        };

        // Flags and risk levels are checked before anything that depends on a total.
        let mut flag_ids = BTreeSet::new();
        for (i, f) in raw.flags.iter().enumerate() {
            let field = format!("flags[{i}]");
            let fid = ck.id(&format!("{field}.id"), &f.id)?;
            if !flag_ids.insert(fid.clone()) {
                return Err(ck.err(format!("{field}.id"), format!("duplicate flag id '{fid}'")));
            }
            inst.flags.push(super::definition::Flag {
                id: fid,
                label: ck.text(&format!("{field}.label"), &f.label)?,
                alert: f.alert,
                when: check_condition(&ck, &format!("{field}.when"), &f.when, n)?,
            });
        }
        inst.risk = check_risk(&ck, raw.risk.as_ref(), n)?;
        if method == Method::None && inst.risk.is_empty() {
            return Err(ck.err(
                "scoring.method",
                "method 'none' needs [risk] levels: without a total, the risk level is the result",
            ));
        }

        inst.subscales = check_subscales(&ck, &raw, &inst.items, method)?;
        inst.bands = check_bands(&ck, &raw, &inst)?;
        if let Some(screen) = &raw.screen {
            let (lo, hi) = inst
                .total_range()
                .ok_or_else(|| ck.err("screen", "a screen threshold needs method = sum or mean"))?;
            if !(lo..=hi).contains(&screen.positive_at_least) {
                return Err(ck.err(
                    "screen.positive_at_least",
                    format!(
                        "{} is outside the total range {lo}-{hi}",
                        screen.positive_at_least
                    ),
                ));
            }
            inst.screen_positive_at_least = Some(screen.positive_at_least);
        }
        inst.provisional = raw
            .provisional_diagnosis
            .as_ref()
            .map(|p| check_provisional(&ck, p, &inst))
            .transpose()?;
        Ok(inst)
    }

    /// The lowest and highest possible total, when the instrument has one.
    pub fn total_range(&self) -> Option<(i64, i64)> {
        let scored = self.items.iter().filter(|i| i.scored);
        match self.method {
            Method::Sum => Some(scored.fold((0, 0), |(lo, hi), i| {
                (lo + i.answers.min(), hi + i.answers.max())
            })),
            Method::Mean => {
                let lo = scored.clone().map(|i| i.answers.min()).min()?;
                let hi = scored.map(|i| i.answers.max()).max()?;
                Some((lo, hi))
            }
            Method::None => None,
        }
    }

    /// How many answers a response list may carry: every item up to the last one that is always
    /// asked and required, then optionally the trailing optional or conditional items.
    pub fn answer_count_range(&self) -> (usize, usize) {
        let min = self
            .items
            .iter()
            .rposition(|i| !i.optional && i.asked_when.is_none())
            .map_or(0, |p| p + 1);
        (min, self.items.len())
    }

    pub fn item(&self, number: u16) -> Option<&Item> {
        self.items.get(usize::from(number).checked_sub(1)?)
    }
}

fn check_items(
    ck: &Checker<'_>,
    raw: &InstrumentFile,
    method: Method,
) -> Result<Vec<Item>, DefinitionError> {
    if raw.items.is_empty() {
        return Err(ck.err("items", "an instrument needs at least one item"));
    }
    let n = raw.items.len();
    let mut items = Vec::with_capacity(n);
    for (i, it) in raw.items.iter().enumerate() {
        let field = format!("items[{i}]");
        items.push(check_item(ck, &field, i, it, raw, method, n)?);
    }
    if method != Method::None && !items.iter().any(|i| i.scored) {
        return Err(ck.err("items", "no item is scored, so there is no total"));
    }
    Ok(items)
}

fn check_item(
    ck: &Checker<'_>,
    field: &str,
    index: usize,
    it: &ItemFile,
    raw: &InstrumentFile,
    method: Method,
    n: usize,
) -> Result<Item, DefinitionError> {
    if usize::from(it.number) != index + 1 {
        return Err(ck.err(
            format!("{field}.number"),
            format!(
                "is {}, expected {} (items are numbered 1, 2, 3, … in order)",
                it.number,
                index + 1
            ),
        ));
    }
    let set = raw.answer_sets.get(&it.answers).ok_or_else(|| {
        let known = raw
            .answer_sets
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        ck.err(
            format!("{field}.answers"),
            format!("no answer set named '{}'; defined: {known}", it.answers),
        )
    })?;
    let answers = check_answer_set(ck, &format!("answer_sets.{}", it.answers), set)?;
    let asked_when = it
        .asked_when
        .as_ref()
        .map(|c| check_condition(ck, &format!("{field}.asked_when"), c, n))
        .transpose()?;
    if let Some(c) = &asked_when
        && c.items_read().iter().any(|&r| r >= it.number)
    {
        return Err(ck.err(
            format!("{field}.asked_when"),
            "may only depend on earlier items",
        ));
    }
    if method != Method::None && it.scored && (it.optional || asked_when.is_some()) {
        // kapstone never prorates: a scored item that may be skipped would make totals incomparable.
        return Err(ck.err(
            field,
            "a scored item cannot be optional or conditional (set scored = false)",
        ));
    }
    Ok(Item {
        number: it.number,
        text: ck.text(&format!("{field}.text"), &it.text)?,
        answers,
        loinc: ck.loinc(&format!("{field}.loinc"), &it.loinc)?,
        scored: it.scored,
        optional: it.optional,
        asked_when,
    })
}

fn check_answer_set(
    ck: &Checker<'_>,
    field: &str,
    set: &AnswerSetFile,
) -> Result<AnswerSet, DefinitionError> {
    match (&set.options, &set.range) {
        (Some(opts), None) => {
            if opts.is_empty() {
                return Err(ck.err(format!("{field}.options"), "must list at least one option"));
            }
            let mut seen = BTreeSet::new();
            let mut out = Vec::with_capacity(opts.len());
            for (i, o) in opts.iter().enumerate() {
                if !seen.insert(o.value) {
                    return Err(ck.err(
                        format!("{field}.options[{i}].value"),
                        format!("duplicate value {}", o.value),
                    ));
                }
                out.push(AnswerOption {
                    value: o.value,
                    label: ck.text(&format!("{field}.options[{i}].label"), &o.label)?,
                    loinc: ck.loinc(&format!("{field}.options[{i}].loinc"), &o.loinc)?,
                });
            }
            Ok(AnswerSet::Options(out))
        }
        (None, Some(r)) => {
            if r.min > r.max {
                return Err(ck.err(
                    format!("{field}.range"),
                    format!("min {} is above max {}", r.min, r.max),
                ));
            }
            Ok(AnswerSet::Range {
                min: r.min,
                max: r.max,
                min_label: r.min_label.clone(),
                max_label: r.max_label.clone(),
            })
        }
        _ => Err(ck.err(field, "give exactly one of 'options' or 'range'")),
    }
}

fn check_condition(
    ck: &Checker<'_>,
    field: &str,
    c: &ConditionFile,
    n: usize,
) -> Result<Condition, DefinitionError> {
    let (quantifier, items) = match (c.item, &c.any_of, &c.all_of) {
        (Some(i), None, None) => (Quantifier::Any, vec![i]),
        (None, Some(list), None) => (Quantifier::Any, list.clone()),
        (None, None, Some(list)) => (Quantifier::All, list.clone()),
        _ => {
            return Err(ck.err(field, "give exactly one of 'item', 'any_of' or 'all_of'"));
        }
    };
    if items.is_empty() {
        return Err(ck.err(field, "names no items"));
    }
    if let Some(bad) = items.iter().find(|&&i| i == 0 || usize::from(i) > n) {
        return Err(ck.err(
            field,
            format!("item {bad} does not exist (items are 1-{n})"),
        ));
    }
    if c.at_least.is_none() && c.at_most.is_none() {
        return Err(ck.err(field, "give 'at_least' and/or 'at_most'"));
    }
    let and = c
        .and
        .iter()
        .enumerate()
        .map(|(i, sub)| check_condition(ck, &format!("{field}.and[{i}]"), sub, n))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Condition {
        quantifier,
        items,
        bound: Bound {
            at_least: c.at_least,
            at_most: c.at_most,
        },
        and,
    })
}

fn check_risk(
    ck: &Checker<'_>,
    risk: Option<&RiskFile>,
    n: usize,
) -> Result<Vec<RiskLevel>, DefinitionError> {
    let Some(risk) = risk else { return Ok(vec![]) };
    if risk.levels.is_empty() {
        return Err(ck.err("risk.levels", "must list at least one level"));
    }
    let mut ids = BTreeSet::new();
    risk.levels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let field = format!("risk.levels[{i}]");
            let id = ck.id(&format!("{field}.id"), &l.id)?;
            if !ids.insert(id.clone()) {
                return Err(ck.err(format!("{field}.id"), format!("duplicate level '{id}'")));
            }
            Ok(RiskLevel {
                id,
                when: check_condition(ck, &format!("{field}.when"), &l.when, n)?,
            })
        })
        .collect()
}

fn check_subscales(
    ck: &Checker<'_>,
    raw: &InstrumentFile,
    items: &[Item],
    method: Method,
) -> Result<Vec<Subscale>, DefinitionError> {
    if !raw.subscales.is_empty() && method != Method::Sum {
        return Err(ck.err("subscales", "subscales need method = sum"));
    }
    let mut ids = BTreeSet::new();
    raw.subscales
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let field = format!("subscales[{i}]");
            if s.id.trim().is_empty() || !ids.insert(s.id.clone()) {
                return Err(ck.err(format!("{field}.id"), "empty or duplicate subscale id"));
            }
            if s.items.is_empty() {
                return Err(ck.err(format!("{field}.items"), "names no items"));
            }
            let mut seen = BTreeSet::new();
            for &num in &s.items {
                let item = usize::from(num)
                    .checked_sub(1)
                    .and_then(|k| items.get(k))
                    .ok_or_else(|| {
                        ck.err(
                            format!("{field}.items"),
                            format!("item {num} does not exist (items are 1-{})", items.len()),
                        )
                    })?;
                if !item.scored {
                    return Err(ck.err(
                        format!("{field}.items"),
                        format!("item {num} is not scored"),
                    ));
                }
                if !seen.insert(num) {
                    return Err(ck.err(
                        format!("{field}.items"),
                        format!("item {num} is listed twice"),
                    ));
                }
            }
            Ok(Subscale {
                id: s.id.clone(),
                label: ck.text(&format!("{field}.label"), &s.label)?,
                items: s.items.clone(),
            })
        })
        .collect()
}

fn check_bands(
    ck: &Checker<'_>,
    raw: &InstrumentFile,
    inst: &Instrument,
) -> Result<Vec<Band>, DefinitionError> {
    if raw.bands.is_empty() {
        return Ok(vec![]);
    }
    if inst.method != Method::Sum {
        return Err(ck.err("bands", "bands need method = sum"));
    }
    if raw
        .band_source
        .as_deref()
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(ck.err("band_source", "say where the bands come from"));
    }
    let (lo, hi) = inst
        .total_range()
        .ok_or_else(|| ck.err("bands", "bands need a total"))?;
    let mut expected = lo;
    let mut ids = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.bands.len());
    for (i, b) in raw.bands.iter().enumerate() {
        let field = format!("bands[{i}]");
        let id = ck.id(&format!("{field}.id"), &b.id)?;
        if !ids.insert(id.clone()) {
            return Err(ck.err(format!("{field}.id"), format!("duplicate band '{id}'")));
        }
        if b.min != expected {
            return Err(ck.err(
                format!("{field}.min"),
                format!(
                    "is {}, expected {expected}: bands must run in order from {lo} to {hi} without gaps or overlaps",
                    b.min
                ),
            ));
        }
        if b.max < b.min {
            return Err(ck.err(
                format!("{field}.max"),
                format!("{} is below min {}", b.max, b.min),
            ));
        }
        expected = b.max + 1;
        out.push(Band {
            id,
            label: ck.text(&format!("{field}.label"), &b.label)?,
            min: b.min,
            max: b.max,
        });
    }
    if expected != hi + 1 {
        return Err(ck.err(
            "bands",
            format!(
                "the last band ends at {}, but totals reach {hi}",
                expected - 1
            ),
        ));
    }
    Ok(out)
}

fn check_provisional(
    ck: &Checker<'_>,
    p: &ProvisionalFile,
    inst: &Instrument,
) -> Result<ProvisionalRule, DefinitionError> {
    let key = ck.id("provisional_diagnosis.key", &p.key)?;
    if p.clusters.is_empty() {
        return Err(ck.err(
            "provisional_diagnosis.clusters",
            "must list at least one cluster",
        ));
    }
    let clusters = p
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let field = format!("provisional_diagnosis.clusters[{i}]");
            let sub = inst
                .subscales
                .iter()
                .find(|s| s.id == c.subscale)
                .ok_or_else(|| {
                    ck.err(
                        format!("{field}.subscale"),
                        format!("no subscale '{}'", c.subscale),
                    )
                })?;
            if c.min_symptoms == 0 || c.min_symptoms > sub.items.len() {
                return Err(ck.err(
                    format!("{field}.min_symptoms"),
                    format!(
                        "must be 1-{} (the items in subscale {})",
                        sub.items.len(),
                        sub.id
                    ),
                ));
            }
            Ok((c.subscale.clone(), c.min_symptoms))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ProvisionalRule {
        key,
        symptom_at_least: p.symptom_at_least,
        clusters,
    })
}
