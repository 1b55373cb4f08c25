//! Turns a patient's chart into the chart page: trend SVGs with bands and dosing sessions,
//! change-from-baseline badges with their definitions, the schedule, courses and a timeline.

use crate::views::*;
use jiff::Timestamp;
use jiff::civil::Date;
use kapstone_app::App;
use kapstone_app::clinic::{Chart, mark_overdue};
use kapstone_app::clinical::course::{EncounterKind, EncounterStatus, Indication, Route};
use kapstone_app::clinical::protocol::TEMPLATES;
use kapstone_app::model::{AssessmentPoint, Due, SeriesPoint};
use kapstone_outcomes::{ChangeRule, DoseMarker, ReferenceLine, TrendChart, TrendPoint, XTick};

/// The timeline shows the most recent events; the trend charts keep every assessment.
const TIMELINE_SHOWN: usize = 200;

/// A time as staff read it (UTC, labelled).
pub fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn today() -> Date {
    Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

fn day_of(t: Timestamp) -> Date {
    t.to_zoned(jiff::tz::TimeZone::UTC).date()
}

#[allow(clippy::cast_precision_loss)] // day counts are small
fn days(origin: Timestamp, t: Timestamp) -> f64 {
    t.duration_since(origin).as_secs_f64() / 86_400.0
}

fn fmt_total(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn badge(label: &str, class: &'static str, rule: &ChangeRule) -> Badge {
    Badge {
        label: label.into(),
        class,
        definition: format!("{} Source: {}", rule.text, rule.source),
    }
}

fn change_view(instrument: &str, series: &[&SeriesPoint]) -> Option<ChangeView> {
    let baseline = series
        .iter()
        .position(|a| a.time_point == "baseline")
        .unwrap_or(0);
    let last = series.len().checked_sub(1)?;
    if last == baseline {
        return None;
    }
    let (b, l) = (series[baseline].total, series[last].total);
    let ch = kapstone_outcomes::change(instrument, b, l)?;
    let d = &ch.definition;
    let mut badges = Vec::new();
    if let (Some(met), Some(rule)) = (ch.response, &d.response) {
        badges.push(if met {
            badge("Response", "good", rule)
        } else {
            badge("No response", "neutral", rule)
        });
    }
    if let (Some(true), Some(rule)) = (ch.remission, &d.remission) {
        badges.push(badge("Remission", "good", rule));
    }
    if let (Some(true), Some(rule)) = (ch.reliable_improvement, &d.reliable_improvement) {
        badges.push(badge("Reliable improvement", "good", rule));
    }
    if let (Some(true), Some(rule)) = (ch.reliable_deterioration, &d.reliable_deterioration) {
        badges.push(badge("Reliable deterioration", "bad", rule));
    }
    let pct = ch
        .percent
        .map(|p| format!(", {:+.0} %", p))
        .unwrap_or_default();
    Some(ChangeView {
        baseline: fmt_total(b),
        latest: fmt_total(l),
        delta: format!("{:+}{pct}", fmt_total(ch.delta)),
        badges,
    })
}

fn assessment_entry(app: &App, a: &AssessmentPoint) -> String {
    let name = app.library().short_name(&a.instrument);
    let result = match (a.total, &a.severity) {
        (Some(t), Some(s)) => format!("{} ({})", fmt_total(t), s.replace('_', " ")),
        (Some(t), None) => fmt_total(t),
        (None, _) => "incomplete".into(),
    };
    let flags = if a.flags.is_empty() {
        String::new()
    } else {
        format!(" — flags: {}", a.flags.replace(',', ", "))
    };
    format!("{name} {}: {result}{flags}", a.time_point.replace('_', " "))
}

fn due_status(d: &Due, today: Date) -> &'static str {
    if d.assessment_id.is_some() {
        "completed"
    } else if d
        .due_on
        .checked_add(jiff::Span::new().days(d.window_days))
        .is_ok_and(|last| today > last)
    {
        "overdue"
    } else if today >= d.due_on {
        "due"
    } else {
        "upcoming"
    }
}

pub fn build(
    app: &App,
    layout: Layout,
    csrf: &str,
    chart: &Chart,
    overdue_minutes: i64,
) -> ChartPage {
    let p = &chart.patient;
    let alerts = mark_overdue(
        chart.alerts.clone(),
        overdue_minutes,
        kapstone_app::model::now(),
    );
    let open_alerts = alerts
        .iter()
        .filter(|a| a.alert.acknowledged_at.is_none())
        .map(|a| OpenAlert {
            id: a.alert.id.to_string(),
            message: a.alert.message.clone(),
            raised_at: when(a.alert.raised_at),
            overdue: a.overdue,
        })
        .collect();
    let closed_alerts = alerts
        .iter()
        .filter_map(|a| {
            Some(ClosedAlert {
                message: a.alert.message.clone(),
                raised_at: when(a.alert.raised_at),
                acknowledged: when(a.alert.acknowledged_at?),
                note: a.alert.action_note.clone().unwrap_or_default(),
            })
        })
        .collect();

    let doses: Vec<(Timestamp, i64)> = chart
        .courses
        .iter()
        .flat_map(|(_, encounters)| encounters.iter())
        .filter(|e| e.kind == EncounterKind::Dosing && e.status != EncounterStatus::Cancelled)
        .filter_map(|e| Some((e.occurred_at.or(e.planned_for)?, e.sequence)))
        .collect();
    let scored = &chart.assessments.series;
    let origin = scored
        .iter()
        .map(|a| a.administered_at)
        .chain(doses.iter().map(|d| d.0))
        .min()
        .unwrap_or_else(Timestamp::now);
    let end = scored
        .iter()
        .map(|a| a.administered_at)
        .chain(doses.iter().map(|d| d.0))
        .max()
        .unwrap_or(origin);

    let mut charts = Vec::new();
    for inst in app.library().iter() {
        let series: Vec<&SeriesPoint> = scored.iter().filter(|a| a.instrument == inst.id).collect();
        if series.is_empty() {
            continue;
        }
        let Some(mut c) = TrendChart::for_instrument(inst) else {
            continue;
        };
        c.points = series
            .iter()
            .map(|a| TrendPoint {
                x: days(origin, a.administered_at),
                y: a.total,
                label: Some(format!(
                    "{} {} ({})",
                    day_of(a.administered_at),
                    fmt_total(a.total),
                    a.time_point
                )),
            })
            .collect();
        c.markers = doses
            .iter()
            .map(|(t, n)| DoseMarker {
                x: days(origin, *t),
                label: format!("Dose {n}"),
            })
            .collect();
        if inst.id == "pcl5" {
            c.reference = Some(ReferenceLine {
                y: 33.0,
                label: "probable PTSD cut-off (33)".into(),
            });
        }
        let span = days(origin, end).max(1.0);
        c.x_ticks = (0..=4)
            .map(|i| {
                let x = span * f64::from(i) / 4.0;
                let t = origin + jiff::SignedDuration::from_secs_f64(x * 86_400.0);
                XTick {
                    x,
                    label: day_of(t).strftime("%b %-d, %Y").to_string(),
                }
            })
            .collect();
        charts.push(ChartView {
            title: format!("{} ({})", inst.short_name, inst.name),
            svg: c.render(),
            change: change_view(&inst.id, &series),
        });
    }

    let today = today();
    let dues = chart
        .dues
        .iter()
        .map(|d| DueRow {
            id: d.id.to_string(),
            due_on: d.due_on.to_string(),
            instrument: app.library().short_name(&d.instrument),
            time_point: d.time_point.replace('_', " "),
            status: due_status(d, today),
            email: app.can_email() && p.details.email.is_some(),
        })
        .collect();

    let courses = chart
        .courses
        .iter()
        .map(|(c, _)| CourseView {
            id: c.id.to_string(),
            indication: c.indication.as_str().to_uppercase(),
            protocol: c.protocol.clone(),
            status: c.status.as_str().replace('_', " "),
            reason: c.status_reason.clone(),
            next: c.status.next().into_iter().map(|s| s.as_str()).collect(),
        })
        .collect();

    // Only the shown entries are formatted: a long history has thousands.
    enum Event<'a> {
        Encounter(&'a kapstone_app::model::Encounter),
        Assessment(&'a AssessmentPoint),
    }
    let mut events: Vec<(Timestamp, Event)> = chart
        .courses
        .iter()
        .flat_map(|(_, encounters)| encounters)
        .filter_map(|e| Some((e.occurred_at.or(e.planned_for)?, Event::Encounter(e))))
        .chain(
            chart
                .assessments
                .recent
                .iter()
                .map(|a| (a.administered_at, Event::Assessment(a))),
        )
        .collect();
    let timeline_total = events.len() - chart.assessments.recent.len() + chart.assessments.count;
    events.sort_by_key(|e| std::cmp::Reverse(e.0));
    events.truncate(TIMELINE_SHOWN);
    let timeline = events
        .into_iter()
        .map(|(t, event)| TimelineEntry {
            when: day_of(t).to_string(),
            what: match event {
                Event::Encounter(e) => format!(
                    "{} session {} ({})",
                    e.kind.as_str().replace('_', "-"),
                    e.sequence,
                    e.status
                ),
                Event::Assessment(a) => assessment_entry(app, a),
            },
        })
        .collect();

    ChartPage {
        layout,
        csrf: csrf.to_string(),
        id: p.id.to_string(),
        name: format!("{} {}", p.details.given_name, p.details.family_name),
        mrn: p.mrn.clone(),
        birth_date: p.details.birth_date.to_string(),
        sex: p.details.sex.as_str().into(),
        open_alerts,
        closed_alerts,
        charts,
        dues,
        courses,
        timeline_total,
        emergency: false,
        timeline,
        indications: Indication::IDS.to_vec(),
        routes: Route::IDS.to_vec(),
        templates: TEMPLATES.iter().map(|t| (t.id, t.name)).collect(),
        today: today.to_string(),
    }
}
