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
use kapstone_app::clinical::instrument::Library;
use kapstone_app::cohort::CohortFilter;
use kapstone_outcomes::cohort::{
    CohortReport, Definitions, InstrumentReport, PRESETS, Rate, charts, present,
};

#[derive(Clone)]
pub struct Cell {
    pub text: String,
    pub ci: String,
}

fn cell(r: &Rate) -> Cell {
    Cell {
        text: r.text(),
        ci: r.ci_text(),
    }
}

pub struct Row {
    pub label: String,
    pub observed: usize,
    pub mean_change: String,
    pub cells: Vec<Cell>,
}

pub struct InstrumentView {
    pub name: String,
    pub with_baseline: usize,
    pub eligible: usize,
    pub rows: Vec<Row>,
    pub durability: String,
    /// Rates, waterfall, funnel, and Kaplan–Meier, as escaped SVG.
    pub rates_svg: String,
    pub waterfall_svg: String,
    pub funnel_svg: String,
    pub km_svg: String,
    pub subgroups: Vec<(String, usize, Cell)>,
}

/// The figures of a report as the dashboard and the HTML report show them.
pub struct ReportView {
    pub synthetic: bool,
    pub courses: usize,
    pub courses_with_dose: usize,
    pub subgroup_window: String,
    pub definitions: Vec<String>,
    pub sources: Vec<String>,
    pub citation: Option<String>,
    pub design_notes: Vec<String>,
    pub instruments: Vec<InstrumentView>,
}

pub fn report_view(
    library: &Library,
    report: &CohortReport,
    defs: &Definitions,
    synthetic: bool,
) -> ReportView {
    let none = Cell {
        text: "—".into(),
        ci: "no threshold for this instrument".into(),
    };
    let instrument = |r: &InstrumentReport| InstrumentView {
        name: library.short_name(&r.instrument),
        with_baseline: r.with_baseline,
        eligible: r.eligible,
        rows: present::measure_rows(r)
            .into_iter()
            .map(|(label, m)| Row {
                label,
                observed: m.observed,
                mean_change: present::mean_change_text(m),
                cells: present::measure_rates(m)
                    .iter()
                    .map(|x| x.as_ref().map_or_else(|| none.clone(), cell))
                    .collect(),
            })
            .collect(),
        durability: present::durability_text(&r.durability),
        rates_svg: charts::rates(r).svg(),
        waterfall_svg: charts::waterfall(r, &defs.subgroup_window, defs.response_fraction).svg(),
        funnel_svg: charts::funnel(r).svg(),
        km_svg: charts::km(&r.durability.km).svg(),
        subgroups: present::subgroups(r, defs.ace_high_at)
            .into_iter()
            .map(|(label, s)| (label, s.observed, cell(&s.response)))
            .collect(),
    };
    ReportView {
        synthetic,
        courses: report.courses,
        courses_with_dose: report.courses_with_dose,
        subgroup_window: defs.subgroup_window.clone(),
        definitions: defs.text.clone(),
        sources: defs
            .instruments
            .iter()
            .map(|r| format!("{}: {}", library.short_name(&r.id), r.source))
            .collect(),
        citation: defs.citation.clone(),
        design_notes: defs.design_notes.clone(),
        instruments: report.instruments.iter().map(instrument).collect(),
    }
}

/// The standalone HTML report of `kapstone report --format html`: no scripts, no external
/// files, the same sections as the dashboard.
#[derive(Template)]
#[template(path = "report.html")]
struct ReportDocument<'a> {
    view: &'a ReportView,
    definitions_name: &'a str,
}

pub fn report_html(
    library: &Library,
    report: &CohortReport,
    defs: &Definitions,
    synthetic: bool,
) -> Result<String, askama::Error> {
    let view = report_view(library, report, defs, synthetic);
    ReportDocument {
        view: &view,
        definitions_name: &defs.name,
    }
    .render()
}

#[derive(Template)]
#[template(path = "outcomes.html")]
pub struct OutcomesPage {
    pub layout: Layout,
    pub indications: Vec<&'static str>,
    pub routes: Vec<&'static str>,
    pub presets: Vec<&'static str>,
    pub indication: String,
    pub route: String,
    pub from: String,
    pub to: String,
    pub preset: String,
    pub view: ReportView,
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
            indications: Indication::IDS.to_vec(),
            routes: Route::IDS.to_vec(),
            presets: PRESETS.to_vec(),
            indication: f.indication.clone(),
            route: f.route.clone(),
            from: f.from.clone(),
            to: f.to.clone(),
            preset: f.preset.clone(),
            view: report_view(
                web.app.library(),
                &view.report,
                &view.definitions,
                view.synthetic,
            ),
        },
    )
}
