//! Historical records from four CSV files (`kapstone import DIR`): `patients.csv`, `courses.csv`,
//! `doses.csv` and `assessments.csv`, each with a header row. Every row is checked before
//! anything is written; the first bad row is reported as `file:line: field: message`, and the
//! store writes the whole import in one transaction or not at all.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use kapstone_clinical::course::{CourseStatus, EncounterKind, EncounterStatus, Indication, Route};
use kapstone_clinical::dosing::administration::{Dose, Drug, Formulation, parse_weight};
use kapstone_clinical::instrument::Library;
use kapstone_clinical::vocab::Sex;
use kapstone_store::model::*;
use std::collections::HashMap;

/// The four files' contents.
#[derive(Debug, Clone, Default)]
pub struct ImportFiles {
    pub patients: String,
    pub courses: String,
    pub doses: String,
    pub assessments: String,
}

/// A bad row: which file, which line (1 is the header), which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct ImportError {
    pub file: &'static str,
    pub line: u64,
    pub field: String,
    pub message: String,
}

/// The rows, checked and turned into what the store imports.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub patients: Vec<ImportPatient>,
    pub courses: usize,
    pub doses: usize,
    pub assessments: usize,
}

struct Row<'a> {
    file: &'static str,
    line: u64,
    headers: &'a csv::StringRecord,
    record: csv::StringRecord,
}

impl Row<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file,
            line: self.line,
            field: field.to_string(),
            message: message.into(),
        }
    }

    fn get(&self, field: &str) -> Result<&str, ImportError> {
        let i = self
            .headers
            .iter()
            .position(|h| h.trim() == field)
            .ok_or_else(|| self.err(field, "the header row has no such column"))?;
        Ok(self.record.get(i).unwrap_or("").trim())
    }

    fn required(&self, field: &str) -> Result<&str, ImportError> {
        let v = self.get(field)?;
        if v.is_empty() {
            return Err(self.err(field, "is empty; a value is required"));
        }
        Ok(v)
    }

    fn date(&self, field: &str) -> Result<Date, ImportError> {
        let v = self.required(field)?;
        v.parse::<Date>()
            .ok()
            .filter(|_| v.len() == 10)
            .ok_or_else(|| self.err(field, format!("'{v}' is not a date; use YYYY-MM-DD")))
    }

    fn vocab<T>(
        &self,
        field: &str,
        parse: impl Fn(&str) -> Result<T, kapstone_clinical::vocab::VocabError>,
    ) -> Result<T, ImportError> {
        let v = self.required(field)?;
        parse(v).map_err(|e| {
            self.err(
                field,
                format!(
                    "'{v}' is not allowed; allowed values: {}",
                    e.allowed.join(", ")
                ),
            )
        })
    }
}

fn rows(
    file: &'static str,
    text: &str,
    headers: &mut csv::StringRecord,
) -> Result<Vec<(u64, csv::StringRecord)>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    *headers = reader
        .headers()
        .map_err(|e| ImportError {
            file,
            line: 1,
            field: "header".into(),
            message: e.to_string(),
        })?
        .clone();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| ImportError {
            file,
            line,
            field: "row".into(),
            message: e.to_string(),
        })?;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        out.push((line, record));
    }
    Ok(out)
}

/// 09:00 clinic time on a date: imported records carry dates, not times.
fn morning(date: Date, tz: &TimeZone) -> Result<Timestamp, String> {
    date.at(9, 0, 0, 0)
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

impl ImportFiles {
    /// About how many data rows the four files hold (lines less headers), for a progress bar.
    pub fn rows_estimate(&self) -> usize {
        [
            &self.patients,
            &self.courses,
            &self.doses,
            &self.assessments,
        ]
        .iter()
        .map(|t| t.bytes().filter(|b| *b == b'\n').count().saturating_sub(1))
        .sum()
    }
}

/// Checks every row of the four files and builds the import. `team` is where the patients go;
/// `progress` hears how many rows have been checked.
pub fn parse(
    files: &ImportFiles,
    library: &Library,
    tz: &TimeZone,
    team: Option<CareTeamId>,
    progress: &dyn Fn(usize),
) -> Result<Parsed, ImportError> {
    let mut checked = 0;
    let mut tick = || {
        checked += 1;
        progress(checked);
    };
    let today = kapstone_store::model::now().to_zoned(tz.clone()).date();
    let mut patients: Vec<ImportPatient> = Vec::new();
    let mut patient_index: HashMap<String, usize> = HashMap::new();
    let mut h = csv::StringRecord::new();
    for (line, record) in rows("patients.csv", &files.patients, &mut h)? {
        tick();
        let r = Row {
            file: "patients.csv",
            line,
            headers: &h,
            record,
        };
        let id = r.required("patient_id")?.to_string();
        if patient_index.contains_key(&id) {
            return Err(r.err("patient_id", format!("'{id}' appears twice")));
        }
        let details = PatientDetails {
            given_name: r.required("given_name")?.into(),
            family_name: r.required("family_name")?.into(),
            birth_date: r.date("birth_date")?,
            sex: r.vocab("sex", Sex::parse)?,
            postal_code: Some(r.required("postal_code")?.to_string()),
            email: Some(r.get("email")?.to_string()).filter(|s| !s.is_empty()),
            phone: Some(r.get("phone")?.to_string()).filter(|s| !s.is_empty()),
        }
        .cleaned(today)
        .map_err(|e| r.err(&e.field, e.message))?;
        patient_index.insert(id.clone(), patients.len());
        patients.push(ImportPatient {
            mrn: Some(id),
            details,
            teams: team.into_iter().collect(),
            courses: Vec::new(),
        });
    }

    // Courses by id: (patient index, course index within the patient).
    let mut course_index: HashMap<String, (usize, usize)> = HashMap::new();
    let mut courses = 0;
    for (line, record) in rows("courses.csv", &files.courses, &mut h)? {
        tick();
        let r = Row {
            file: "courses.csv",
            line,
            headers: &h,
            record,
        };
        let id = r.required("course_id")?.to_string();
        if course_index.contains_key(&id) {
            return Err(r.err("course_id", format!("'{id}' appears twice")));
        }
        let pid = r.required("patient_id")?;
        let &p = patient_index
            .get(pid)
            .ok_or_else(|| r.err("patient_id", format!("'{pid}' is not in patients.csv")))?;
        let start = r.date("start_date")?;
        let at = morning(start, tz).map_err(|e| r.err("start_date", e))?;
        let course = ImportCourse {
            indication: r.vocab("indication", Indication::parse)?,
            planned_route: Some(r.vocab("route", Route::parse)?),
            protocol: "imported".into(),
            opened_at: at,
            // The records show the course started; kapstone does not invent how it ended.
            history: vec![
                (CourseStatus::Screening, at, None),
                (CourseStatus::Preparation, at, None),
                (CourseStatus::Active, at, None),
            ],
            encounters: Vec::new(),
            assessments: Vec::new(),
            dues: Vec::new(),
        };
        course_index.insert(id, (p, patients[p].courses.len()));
        patients[p].courses.push(course);
        courses += 1;
    }

    let mut doses = 0;
    for (line, record) in rows("doses.csv", &files.doses, &mut h)? {
        tick();
        let r = Row {
            file: "doses.csv",
            line,
            headers: &h,
            record,
        };
        let cid = r.required("course_id")?;
        let &(p, c) = course_index
            .get(cid)
            .ok_or_else(|| r.err("course_id", format!("'{cid}' is not in courses.csv")))?;
        let date = r.date("date")?;
        let at = morning(date, tz).map_err(|e| r.err("date", e))?;
        let route = r.vocab("route", Route::parse)?;
        let dose_mg: f64 = r
            .required("dose_mg")?
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && (1.0..=1000.0).contains(v))
            .ok_or_else(|| r.err("dose_mg", "must be a number of mg between 1 and 1000"))?;
        let weight_kg =
            parse_weight(r.get("weight_kg")?).map_err(|e| r.err("weight_kg", e.message))?;
        let course = &mut patients[p].courses[c];
        if date < course.opened_at.to_zoned(tz.clone()).date() {
            return Err(r.err("date", format!("{date} is before the course's start_date")));
        }
        course.encounters.push(ImportEncounter {
            kind: EncounterKind::Dosing,
            status: EncounterStatus::Completed,
            planned_for: at,
            occurred_at: Some(at),
            dose: Some(Dose {
                drug: if route == Route::IntranasalEsketamine {
                    Drug::Esketamine
                } else {
                    Drug::RacemicKetamine
                },
                route,
                formulation: Formulation::Unrecorded,
                dose_mg,
                weight_kg,
                lot: None,
            }),
        });
        doses += 1;
    }

    let mut assessments = 0;
    for (line, record) in rows("assessments.csv", &files.assessments, &mut h)? {
        tick();
        let r = Row {
            file: "assessments.csv",
            line,
            headers: &h,
            record,
        };
        let cid = r.required("course_id")?;
        let &(p, c) = course_index
            .get(cid)
            .ok_or_else(|| r.err("course_id", format!("'{cid}' is not in courses.csv")))?;
        let date = r.date("date")?;
        let at = morning(date, tz).map_err(|e| r.err("date", e))?;
        let id = r.required("instrument")?;
        let inst = library.get(id).ok_or_else(|| {
            r.err(
                "instrument",
                format!(
                    "'{id}' is not in the library; allowed values: {}",
                    library.ids().join(", ")
                ),
            )
        })?;
        let answers = r.get("answers")?;
        let total = r.get("total")?;
        let given_total = if total.is_empty() {
            None
        } else {
            Some(
                total
                    .parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite())
                    .ok_or_else(|| r.err("total", format!("'{total}' is not a number")))?,
            )
        };
        let result = if answers.is_empty() {
            let total = given_total
                .ok_or_else(|| r.err("answers", "both answers and total are empty; give one"))?;
            if let Some((lo, hi)) = inst.total_range() {
                #[allow(clippy::cast_precision_loss)] // small totals
                let (lo, hi) = (lo as f64, hi as f64);
                if !(lo..=hi).contains(&total) {
                    return Err(r.err(
                        "total",
                        format!("{total} is outside {lo}–{hi} for {}", inst.short_name),
                    ));
                }
            }
            ImportResult::TotalOnly {
                instrument: inst.id.clone(),
                version: inst.version.clone(),
                rater: inst.rater.as_str().to_string(),
                total,
                #[allow(clippy::cast_precision_loss)]
                severity: inst
                    .bands
                    .iter()
                    .find(|b| (b.min as f64) <= total && total <= (b.max as f64))
                    .map(|b| b.id.clone()),
            }
        } else {
            let list = answers.replace(';', ",");
            let parsed = inst.parse_answers(&list).map_err(|e| {
                let field = e
                    .item()
                    .map_or("answers".to_string(), |i| format!("answers[{i}]"));
                r.err(&field, e.to_string())
            })?;
            let response = inst.respond(parsed);
            let scored = response.score().total.map(|t| t.value());
            if let (Some(given), Some(scored)) = (given_total, scored)
                && (given - scored).abs() > 1e-9
            {
                return Err(r.err(
                    "total",
                    format!("{given} does not match {scored}, the total of the answers"),
                ));
            }
            ImportResult::Scored(Box::new(response))
        };
        patients[p].courses[c].assessments.push(ImportAssessment {
            result,
            time_point: format!("imported_{date}"),
            administered_at: at,
        });
        assessments += 1;
    }
    Ok(Parsed {
        patients,
        courses,
        doses,
        assessments,
    })
}
