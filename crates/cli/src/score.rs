//! `kapstone score` and `kapstone instruments`: the questionnaire library on the command line.

use kapstone_clinical::instrument::{AnswerSet, Instrument, Library, Score, Total};
use serde_json::{Map, Value, json};

fn total_json(t: Option<Total>) -> Value {
    match t {
        Some(Total::Sum(s)) => json!(s),
        Some(t @ Total::Mean { .. }) => json!(t.value()),
        None => Value::Null,
    }
}

/// The machine-readable result: the keys documented in the README, plus a few more.
pub fn score_json(inst: &Instrument, answers: &[Option<i64>], s: &Score) -> Value {
    let mut out = Map::new();
    out.insert("instrument".into(), json!(s.instrument));
    out.insert("version".into(), json!(s.version));
    out.insert("complete".into(), json!(s.complete));
    out.insert("total".into(), total_json(s.total));
    out.insert(
        "total_range".into(),
        inst.total_range()
            .map_or(Value::Null, |(lo, hi)| json!([lo, hi])),
    );
    out.insert(
        "severity".into(),
        s.severity.as_ref().map_or(Value::Null, |b| json!(b.id)),
    );
    out.insert(
        "severity_label".into(),
        s.severity.as_ref().map_or(Value::Null, |b| json!(b.label)),
    );
    out.insert(
        "subscales".into(),
        s.subscales.as_ref().map_or(Value::Null, |subs| {
            Value::Object(subs.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        }),
    );
    out.insert(
        "flags".into(),
        json!(s.flags.iter().map(|f| f.id.as_str()).collect::<Vec<_>>()),
    );
    out.insert("missing_items".into(), json!(s.missing));
    out.insert("answers".into(), json!(answers));
    if let Some(sp) = s.screen_positive {
        out.insert("screen_positive".into(), json!(sp));
    }
    if let Some((key, met)) = &s.provisional {
        out.insert(key.clone(), json!(met));
    }
    if let Some(risk) = &s.risk {
        out.insert("risk".into(), json!(risk));
    }
    Value::Object(out)
}

pub fn score_text(inst: &Instrument, s: &Score) -> String {
    let mut lines = Vec::new();
    let head = format!("{} ({} v{})", inst.short_name, inst.id, inst.version);
    match (s.complete, s.total, inst.total_range()) {
        (true, Some(t), Some((_, hi))) => {
            let band = s
                .severity
                .as_ref()
                .map(|b| format!(" — {}", b.label))
                .unwrap_or_default();
            lines.push(format!("{head}: total {t} of {hi}{band}"));
        }
        (true, _, _) => lines.push(format!("{head}: complete")),
        (false, _, _) => {
            let missing = if s.missing.is_empty() {
                "answers that decide the result are missing".to_string()
            } else {
                let list = s.missing.iter().map(u16::to_string).collect::<Vec<_>>();
                format!("unanswered item(s) {}", list.join(", "))
            };
            lines.push(format!(
                "{head}: INCOMPLETE — {missing}; no total (kapstone does not prorate)"
            ));
        }
    }
    if let Some(subs) = &s.subscales {
        let parts: Vec<String> = subs.iter().map(|(k, v)| format!("{k} {v}")).collect();
        lines.push(format!("subscales: {}", parts.join(", ")));
    }
    if let Some(Some(sp)) = s.screen_positive {
        lines.push(format!(
            "screen: {}",
            if sp { "positive" } else { "negative" }
        ));
    }
    if let Some((key, Some(met))) = &s.provisional {
        lines.push(format!("{key}: {}", if *met { "yes" } else { "no" }));
    }
    if let Some(Some(risk)) = &s.risk {
        lines.push(format!("risk: {risk}"));
    }
    for f in &s.flags {
        let alert = if f.alert {
            " — opens a safety alert"
        } else {
            ""
        };
        lines.push(format!("FLAG {}: {}{alert}", f.id, f.label));
    }
    lines.join("\n")
}

fn answer_set_json(set: &AnswerSet) -> Value {
    match set {
        AnswerSet::Options(opts) => json!({
            "options": opts.iter().map(|o| json!({"value": o.value, "label": o.label, "loinc": o.loinc})).collect::<Vec<_>>()
        }),
        AnswerSet::Range {
            min,
            max,
            min_label,
            max_label,
        } => {
            json!({"range": {"min": min, "max": max, "min_label": min_label, "max_label": max_label}})
        }
    }
}

pub fn instruments_json(lib: &Library) -> Value {
    let list: Vec<Value> = lib
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "version": i.version,
                "name": i.name,
                "short_name": i.short_name,
                "rater": i.rater.as_str(),
                "recall_period": i.recall_period,
                "wording": i.wording.as_str(),
                "items": i.items.iter().map(|it| json!({
                    "number": it.number,
                    "text": it.text,
                    "scored": it.scored,
                    "optional": it.optional,
                    "asked_when": it.asked_when.as_ref().map(ToString::to_string),
                    "loinc": it.loinc,
                    "answers": answer_set_json(&it.answers),
                })).collect::<Vec<_>>(),
                "scoring": {"method": i.method.as_str(), "rule": i.scoring_rule, "total_range": i.total_range()},
                "bands": i.bands.iter().map(|b| json!({"id": b.id, "label": b.label, "min": b.min, "max": b.max})).collect::<Vec<_>>(),
                "band_source": i.band_source,
                "subscales": i.subscales.iter().map(|s| json!({"id": s.id, "label": s.label, "items": s.items})).collect::<Vec<_>>(),
                "flags": i.flags.iter().map(|f| json!({"id": f.id, "label": f.label, "alert": f.alert, "when": f.when.to_string()})).collect::<Vec<_>>(),
                "screen_positive_at_least": i.screen_positive_at_least,
                "provisional_diagnosis": i.provisional.as_ref().map(|p| json!({"key": p.key, "symptom_at_least": p.symptom_at_least, "clusters": p.clusters})),
                "risk_levels": i.risk.iter().map(|r| json!({"id": r.id, "when": r.when.to_string()})).collect::<Vec<_>>(),
                "loinc": {"panel": i.loinc.panel, "total": i.loinc.total},
                "source": i.source,
                "licence": i.licence,
            })
        })
        .collect();
    Value::Array(list)
}

pub fn instruments_text(lib: &Library) -> String {
    let mut out = format!(
        "{:<8} {:<10} {:>5}  {:<9}  {:<15}  {}\n",
        "id", "name", "items", "rater", "wording", "scoring"
    );
    for i in lib.iter() {
        let scoring = match (i.total_range(), i.bands.is_empty()) {
            (Some((lo, hi)), true) => format!("{} {lo}-{hi}", i.method.as_str()),
            (Some((lo, hi)), false) => format!(
                "{} {lo}-{hi}, bands {}",
                i.method.as_str(),
                i.bands
                    .iter()
                    .map(|b| b.id.as_str())
                    .collect::<Vec<_>>()
                    .join("/")
            ),
            (None, _) => format!(
                "risk level: {}",
                i.risk
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join("/")
            ),
        };
        out.push_str(&format!(
            "{:<8} {:<10} {:>5}  {:<9}  {:<15}  {}\n",
            i.id,
            i.short_name,
            i.items.len(),
            i.rater.as_str(),
            i.wording.as_str(),
            scoring
        ));
    }
    out
}
