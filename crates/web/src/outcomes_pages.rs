//! The outcomes dashboard (admins and researchers): the same figures as `kapstone report`,
//! filtered by indication, route and first-dose date, every percentage as "k of n (x %)" with
//! its 95 % interval on hover and its definition one click away. Aggregates only, no names.

use crate::Shared;
use crate::http::{Origin, PageError, render};
use crate::views::Layout;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kapstone_app::AppError;
use kapstone_app::clinical::course::{Indication, Route};
use kapstone_app::cohort::CohortFilter;
use kapstone_outcomes::cohort::{Definitions, InstrumentReport, Measures, PRESETS, Rate, charts};

#[derive(Clone)]
pub struct Cell {
    pub text: String,
    pub ci: String,
}

fn cell(r: &Rate) -> Cell {
    match (r.rate, r.ci95) {
        (Some(p), Some([lo, hi])) => Cell {
            text: format!("{} of {} ({:.0} %)", r.n, r.of, p * 100.0),
            ci: format!("95 % CI {:.0}–{:.0} % (Wilson)", lo * 100.0, hi * 100.0),
        },
        _ => Cell {
            text: format!("{} of {}", r.n, r.of),
            ci: "no courses observed: no rate".into(),
        },
    }
}

pub struct Row {
    pub label: String,
    pub observed: usize,
    pub mean_change: String,
    pub cells: Vec<Cell>,
}

fn row(label: String, m: &Measures) -> Row {
    let none = Cell {
        text: "—".into(),
        ci: "no threshold for this instrument".into(),
    };
    Row {
        label,
        observed: m.observed,
        mean_change: m
            .mean_change
            .map_or_else(|| "—".into(), |c| format!("{c:+.1}")),
        cells: vec![
            cell(&m.response),
            cell(&m.remission),
            m.mcid.as_ref().map_or_else(|| none.clone(), cell),
            m.reliable_improvement
                .as_ref()
                .map_or_else(|| none.clone(), cell),
        ],
    }
}

pub struct InstrumentView {
    pub name: String,
    pub with_baseline: usize,
    pub eligible: usize,
    pub windows: Vec<Row>,
    pub after_dose: Vec<Row>,
    pub durability: String,
    pub rates_svg: String,
    pub km_svg: String,
    pub subgroups: Vec<(String, usize, Cell)>,
}

#[derive(Template)]
#[template(path = "outcomes.html")]
pub struct OutcomesPage {
    pub layout: Layout,
    pub synthetic: bool,
    pub indications: Vec<&'static str>,
    pub routes: Vec<&'static str>,
    pub presets: Vec<&'static str>,
    pub indication: String,
    pub route: String,
    pub from: String,
    pub to: String,
    pub preset: String,
    pub courses: usize,
    pub courses_with_dose: usize,
    pub definitions: Vec<String>,
    pub citation: Option<String>,
    pub design_notes: Vec<String>,
    pub instruments: Vec<InstrumentView>,
}

#[derive(serde::Deserialize, Default)]
pub struct Filter {
    #[serde(default)]
    indication: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    preset: String,
}

fn date(field: &str, raw: &str) -> Result<Option<jiff::civil::Date>, AppError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    raw.trim()
        .parse()
        .map(Some)
        .map_err(|_| AppError::invalid(field, format!("'{raw}' is not a date; use YYYY-MM-DD")))
}

fn instrument_view(web: &Shared, r: &InstrumentReport) -> InstrumentView {
    let name = web
        .app
        .library()
        .get(&r.instrument)
        .map_or_else(|| r.instrument.clone(), |i| i.short_name.clone());
    let d = &r.durability;
    let mut subgroups = vec![
        (
            "ACE ≥ 4".to_string(),
            r.ace_high.observed,
            cell(&r.ace_high.response),
        ),
        (
            "ACE < 4".to_string(),
            r.ace_low.observed,
            cell(&r.ace_low.response),
        ),
    ];
    for (prefix, map) in [
        ("indication", &r.indication),
        ("route", &r.route),
        ("sex", &r.sex),
    ] {
        for (k, s) in map {
            subgroups.push((
                format!("{prefix}: {}", k.replace('_', " ")),
                s.observed,
                cell(&s.response),
            ));
        }
    }
    InstrumentView {
        name,
        with_baseline: r.with_baseline,
        eligible: r.eligible,
        windows: r.windows.iter().map(|(id, m)| row(id.clone(), m)).collect(),
        after_dose: r
            .after_dose
            .iter()
            .map(|(n, m)| row(format!("after dose {n}"), m))
            .collect(),
        durability: format!(
            "{} responders: {} lost the response, {} censored; median {}",
            d.events + d.censored,
            d.events,
            d.censored,
            d.median_days
                .map_or_else(|| "not reached".into(), |m| format!("{m} days"))
        ),
        rates_svg: charts::rates_svg(r),
        km_svg: charts::km_svg(&d.km),
        subgroups,
    }
}

pub async fn outcomes(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Query(f): Query<Filter>,
) -> Response {
    let staff = match web.staff(&headers, &origin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let filter = (|| -> Result<CohortFilter, AppError> {
        Ok(CohortFilter {
            indication: Some(f.indication.clone())
                .filter(|s| !s.is_empty())
                .map(|s| Indication::parse(&s).map(|i| i.as_str().to_string()))
                .transpose()
                .map_err(|e| AppError::invalid("indication", e.to_string()))?,
            route: Some(f.route.clone())
                .filter(|s| !s.is_empty())
                .map(|s| Route::parse(&s).map(|r| r.as_str().to_string()))
                .transpose()
                .map_err(|e| AppError::invalid("route", e.to_string()))?,
            from: date("from", &f.from)?,
            to: date("to", &f.to)?,
        })
    })();
    let filter = match filter {
        Ok(x) => x,
        Err(e) => return PageError(e).into_response(),
    };
    let defs = if f.preset.is_empty() {
        Definitions::default()
    } else {
        match Definitions::preset(&f.preset) {
            Some(d) => d,
            None => {
                return PageError(AppError::invalid(
                    "preset",
                    format!(
                        "'{}' is not a preset; allowed values: {}",
                        f.preset,
                        PRESETS.join(", ")
                    ),
                ))
                .into_response();
            }
        }
    };
    let view = match web.app.cohort(&staff, &filter, defs).await {
        Ok(v) => v,
        Err(e) => return PageError(e).into_response(),
    };
    render(
        StatusCode::OK,
        &OutcomesPage {
            layout: web.layout(&staff).await,
            synthetic: view.synthetic,
            indications: Indication::IDS.to_vec(),
            routes: Route::IDS.to_vec(),
            presets: PRESETS.to_vec(),
            indication: f.indication.clone(),
            route: f.route.clone(),
            from: f.from.clone(),
            to: f.to.clone(),
            preset: f.preset.clone(),
            courses: view.report.courses,
            courses_with_dose: view.report.courses_with_dose,
            definitions: view.definitions.text.clone(),
            citation: view.definitions.citation.clone(),
            design_notes: view.definitions.design_notes.clone(),
            instruments: view
                .report
                .instruments
                .iter()
                .map(|r| instrument_view(&web, r))
                .collect(),
        },
    )
}
