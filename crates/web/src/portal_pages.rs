//! The patient portal: a questionnaire rendered from its instrument definition, checked item by
//! item, and a thank-you page that shows crisis instructions at once after a flagged answer.

use crate::Shared;
use crate::http::{self, Origin, PageError, render};
use crate::views::{Layout, Message, PortalDone, PortalForm, PortalReceived, Question};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kapstone_app::AppError;
use kapstone_app::clinical::instrument::{AnswerSet, Instrument};

fn gone(web: &Shared) -> Response {
    render(
        StatusCode::NOT_FOUND,
        &Message {
            layout: Layout::bare(web.synthetic),
            heading: "This link no longer works".into(),
            body: "Questionnaire links work once and expire. If you still need to answer, please contact your clinic for a new link.".into(),
            link: None,
        },
    )
}

/// A link that does not open: if its answers are stored, say so — the patient may be retrying
/// after the reply to their submission was lost — otherwise it no longer works.
async fn closed(web: &Shared, token: &str) -> Response {
    match web.app.portal_received(token).await {
        Ok(Some(r)) => render(
            StatusCode::OK,
            &PortalReceived {
                layout: Layout::bare(web.synthetic),
                r,
            },
        ),
        Ok(None) => gone(web),
        Err(e) => PageError(e).into_response(),
    }
}

fn questions(inst: &Instrument, given: &[Option<i64>], bad: &[u16]) -> Vec<Question> {
    inst.items
        .iter()
        .map(|item| {
            let value = given.get(usize::from(item.number) - 1).copied().flatten();
            let (range, min, max, min_label, max_label, options) = match &item.answers {
                AnswerSet::Options(opts) => (
                    false,
                    0,
                    0,
                    String::new(),
                    String::new(),
                    opts.iter()
                        .map(|o| (o.value, o.label.clone(), value == Some(o.value)))
                        .collect(),
                ),
                AnswerSet::Range {
                    min,
                    max,
                    min_label,
                    max_label,
                } => (
                    true,
                    *min,
                    *max,
                    min_label.clone(),
                    max_label.clone(),
                    Vec::new(),
                ),
            };
            Question {
                number: item.number,
                text: item.text.clone(),
                optional: item.optional,
                conditional: item.asked_when.is_some(),
                range,
                min,
                max,
                min_label,
                max_label,
                value: value.map(|v| v.to_string()).unwrap_or_default(),
                options,
                error: bad.contains(&item.number),
            }
        })
        .collect()
}

fn form_page(
    web: &Shared,
    token: String,
    clinic_name: String,
    inst: &Instrument,
    given: &[Option<i64>],
    errors: Vec<(u16, String)>,
) -> Response {
    let bad: Vec<u16> = errors.iter().map(|e| e.0).collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        status,
        &PortalForm {
            layout: Layout::bare(web.synthetic),
            token,
            clinic_name,
            name: inst.name.clone(),
            short_name: inst.short_name.clone(),
            instructions: inst.instructions.clone(),
            questions: questions(inst, given, &bad),
            errors,
        },
    )
}

/// Opens and posts of one link a minute: a patient correcting a form a few times stays far
/// below it.
const PER_LINK: u32 = 20;
/// All portal requests from one address a minute: only a coarse ceiling, since a clinic's
/// patients may share one network (a clinic's Wi-Fi, a carrier's NAT).
const PER_ADDRESS: u32 = 600;

/// Limits per link first, then per address.
fn allowed(web: &Shared, origin: &Origin, token: &str) -> bool {
    // The limiter keeps keys in memory; a hash of the token, never the token.
    let link = kapstone_app::crypto::token_hash(token);
    web.limiter.allow_up_to("portal-link", &link, PER_LINK)
        && web.limiter.allow_up_to("portal", &origin.0, PER_ADDRESS)
}

pub async fn form(
    State(web): State<Shared>,
    origin: Origin,
    Path(token): Path<String>,
) -> Response {
    if !allowed(&web, &origin, &token) {
        return http::too_many();
    }
    match web.app.portal_form(&token, &origin.0).await {
        Ok(f) => form_page(&web, token, f.clinic_name, &f.instrument, &[], vec![]),
        Err(AppError::NotFound) => closed(&web, &token).await,
        Err(e) => PageError(e).into_response(),
    }
}

/// No questionnaire in the library has more items; higher item numbers in a post are ignored.
const MAX_ITEMS: usize = 200;

pub async fn submit(
    State(web): State<Shared>,
    origin: Origin,
    Path(token): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if !allowed(&web, &origin, &token) {
        return http::too_many();
    }
    // The answers are read without the instrument: the submission looks the link up, checks
    // the answers against its questionnaire and stores them in one transaction. Only a form
    // shown again (with what to correct) opens the link here.
    let mut values: Vec<Option<i64>> = Vec::new();
    let mut errors = Vec::new();
    for (name, raw) in &fields {
        let Some(n) = name
            .strip_prefix("item")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=MAX_ITEMS).contains(n))
        else {
            continue;
        };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        match raw.parse::<i64>() {
            Ok(v) => {
                if values.len() < n {
                    values.resize(n, None);
                }
                values[n - 1] = Some(v);
            }
            Err(_) => errors.push((
                u16::try_from(n).unwrap_or(0),
                format!("Question {n}: please enter a whole number"),
            )),
        }
    }
    if errors.is_empty() {
        match web.app.portal_submit(&token, &origin.0, &values).await {
            Ok(outcome) => {
                return render(
                    StatusCode::OK,
                    &PortalDone {
                        layout: Layout::bare(web.synthetic),
                        o: outcome,
                    },
                );
            }
            Err(AppError::Invalid { field, message }) => {
                let item = field
                    .strip_prefix("item ")
                    .and_then(|n| n.parse::<u16>().ok())
                    .unwrap_or(0);
                errors.push((item, message));
            }
            Err(AppError::NotFound) => return closed(&web, &token).await,
            Err(e) => return PageError(e).into_response(),
        }
    }
    match web.app.portal_form(&token, &origin.0).await {
        Ok(f) => {
            values.resize(f.instrument.items.len(), None);
            form_page(&web, token, f.clinic_name, &f.instrument, &values, errors)
        }
        Err(AppError::NotFound) => closed(&web, &token).await,
        Err(e) => PageError(e).into_response(),
    }
}
