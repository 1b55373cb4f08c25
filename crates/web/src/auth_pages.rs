//! Sign-in, the second factor, enrolment, recovery codes, account set-up and sign-out.

use crate::http::{
    self, Origin, PageError, clear_session_cookie, redirect_with_cookie, render, set_session_cookie,
};
use crate::views::{Enrol, Layout, Message, Mfa, RecoveryCodes, Setup, SignIn};
use crate::{Shared, check_csrf};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kapstone_app::AppError;
use kapstone_app::auth::{SessionState, Staff};

#[derive(serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

pub async fn signin_page(State(web): State<Shared>) -> Response {
    render(
        StatusCode::OK,
        &SignIn {
            layout: Layout::bare(web.synthetic),
            error: None,
            email: String::new(),
        },
    )
}

pub async fn signin(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<SignInForm>,
) -> Response {
    if !http::posted_from_own_page(&headers, web.app.public_url()) {
        return (
            StatusCode::FORBIDDEN,
            "sign in from kapstone's own sign-in page",
        )
            .into_response();
    }
    if !web.limiter.allow("signin", &origin) {
        return http::too_many();
    }
    match web.app.sign_in(&f.email, &f.password, &origin.0).await {
        Ok(issued) => {
            let next = match issued.state {
                SessionState::Ready => "/dashboard",
                SessionState::NeedsMfa => "/mfa",
                SessionState::NeedsEnrolment => "/mfa/enrol",
            };
            redirect_with_cookie(next, set_session_cookie(&issued.token, web.secure))
        }
        Err(e @ (AppError::Invalid { .. } | AppError::Locked(_))) => {
            let status = if matches!(e, AppError::Locked(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            let message = match e {
                AppError::Invalid { message, .. } => message,
                other => other.to_string(),
            };
            render(
                status,
                &SignIn {
                    layout: Layout::bare(web.synthetic),
                    error: Some(message),
                    email: f.email,
                },
            )
        }
        Err(e) => PageError(e).into_response(),
    }
}

/// The half-signed-in session (password checked, second factor owed).
async fn pending(
    web: &Shared,
    headers: &HeaderMap,
    origin: &Origin,
) -> Result<(Staff, SessionState), Response> {
    let token =
        http::session_token(headers).ok_or_else(|| Redirect::to("/signin").into_response())?;
    web.app
        .session(&token, &origin.0)
        .await
        .map_err(|e| PageError(e).into_response())
}

fn mfa_page_with(web: &Shared, staff: &Staff, error: Option<String>) -> Response {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &Mfa {
            layout: Layout::bare(web.synthetic),
            error,
            csrf: staff.session.csrf_token.clone(),
        },
    )
}

pub async fn mfa_page(State(web): State<Shared>, headers: HeaderMap, origin: Origin) -> Response {
    match pending(&web, &headers, &origin).await {
        Ok((staff, SessionState::NeedsMfa)) => mfa_page_with(&web, &staff, None),
        Ok((_, SessionState::NeedsEnrolment)) => Redirect::to("/mfa/enrol").into_response(),
        Ok((_, SessionState::Ready)) => Redirect::to("/dashboard").into_response(),
        Err(r) => r,
    }
}

/// The second step of signing in: a TOTP code, or a one-time recovery code.
async fn second_factor(
    web: Shared,
    headers: HeaderMap,
    origin: Origin,
    f: CodeForm,
    recovery: bool,
) -> Response {
    if !web.limiter.allow("mfa", &origin) {
        return http::too_many();
    }
    let staff = match pending(&web, &headers, &origin).await {
        Ok((staff, SessionState::NeedsMfa)) => staff,
        Ok(_) => return Redirect::to("/dashboard").into_response(),
        Err(r) => return r,
    };
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    let verified = if recovery {
        web.app.verify_recovery_code(&staff, &f.recovery_code).await
    } else {
        web.app.verify_mfa(&staff, &f.code).await
    };
    match verified {
        Ok(token) => redirect_with_cookie("/dashboard", set_session_cookie(&token, web.secure)),
        Err(AppError::Invalid { message, .. } | AppError::Locked(message)) => {
            mfa_page_with(&web, &staff, Some(message))
        }
        Err(e) => PageError(e).into_response(),
    }
}

pub async fn mfa(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<CodeForm>,
) -> Response {
    second_factor(web, headers, origin, f, false).await
}

pub async fn recovery(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<CodeForm>,
) -> Response {
    second_factor(web, headers, origin, f, true).await
}

async fn enrol_page_with(web: &Shared, staff: &Staff, error: Option<String>) -> Response {
    match web.app.begin_enrolment(staff).await {
        Ok((secret, uri)) => {
            let status = if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            render(
                status,
                &Enrol {
                    layout: Layout::bare(web.synthetic),
                    error,
                    csrf: staff.session.csrf_token.clone(),
                    secret,
                    uri,
                },
            )
        }
        Err(e) => PageError(e).into_response(),
    }
}

pub async fn enrol_page(State(web): State<Shared>, headers: HeaderMap, origin: Origin) -> Response {
    match pending(&web, &headers, &origin).await {
        Ok((staff, SessionState::NeedsEnrolment)) => enrol_page_with(&web, &staff, None).await,
        Ok((_, SessionState::NeedsMfa)) => Redirect::to("/mfa").into_response(),
        Ok((_, SessionState::Ready)) => Redirect::to("/dashboard").into_response(),
        Err(r) => r,
    }
}

pub async fn enrol(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<CodeForm>,
) -> Response {
    if !web.limiter.allow("mfa", &origin) {
        return http::too_many();
    }
    let staff = match pending(&web, &headers, &origin).await {
        Ok((staff, SessionState::NeedsEnrolment)) => staff,
        Ok(_) => return Redirect::to("/dashboard").into_response(),
        Err(r) => return r,
    };
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    match web.app.confirm_enrolment(&staff, &f.code).await {
        Ok((token, codes)) => {
            let mut r = render(
                StatusCode::OK,
                &RecoveryCodes {
                    layout: Layout::bare(web.synthetic),
                    codes,
                },
            );
            r.headers_mut().insert(
                axum::http::header::SET_COOKIE,
                set_session_cookie(&token, web.secure),
            );
            r
        }
        Err(AppError::Invalid { message, .. }) => {
            enrol_page_with(&web, &staff, Some(message)).await
        }
        Err(e) => PageError(e).into_response(),
    }
}

pub async fn signout(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Ok((staff, _)) = pending(&web, &headers, &origin).await {
        if let Err(e) = check_csrf(&staff, &f.csrf) {
            return e.into_response();
        }
        if let Err(e) = web.app.sign_out(&staff).await {
            return PageError(e).into_response();
        }
    }
    redirect_with_cookie("/signin", clear_session_cookie())
}

/// "Sign out everywhere": every session of the person ends, on every device, this one too.
pub async fn signout_everywhere(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Ok((staff, _)) = pending(&web, &headers, &origin).await {
        if let Err(e) = check_csrf(&staff, &f.csrf) {
            return e.into_response();
        }
        if let Err(e) = web.app.sign_out_everywhere(&staff).await {
            return PageError(e).into_response();
        }
    }
    redirect_with_cookie("/signin", clear_session_cookie())
}

pub async fn setup_page(State(web): State<Shared>, Path(token): Path<String>) -> Response {
    match web.app.setup_account(&token).await {
        Ok(user) => render(
            StatusCode::OK,
            &Setup {
                layout: Layout::bare(web.synthetic),
                error: None,
                token,
                name: user.display_name,
                email: user.email,
            },
        ),
        Err(_) => link_gone(&web),
    }
}

fn link_gone(web: &Shared) -> Response {
    render(
        StatusCode::NOT_FOUND,
        &Message {
            layout: Layout::bare(web.synthetic),
            heading: "This link no longer works".into(),
            body: "Set-up links work once and expire after 72 hours. Ask your clinic admin for a new one.".into(),
            link: None,
        },
    )
}

pub async fn setup(
    State(web): State<Shared>,
    origin: Origin,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> Response {
    if !web.limiter.allow("setup", &origin) {
        return http::too_many();
    }
    let user = match web.app.setup_account(&token).await {
        Ok(u) => u,
        Err(_) => return link_gone(&web),
    };
    match web.app.complete_setup(&token, &f.password, &origin.0).await {
        Ok(_) => render(
            StatusCode::OK,
            &Message {
                layout: Layout::bare(web.synthetic),
                heading: "Password set".into(),
                body: "Sign in now; you will set up your authenticator app next.".into(),
                link: Some("/signin".into()),
            },
        ),
        Err(AppError::Invalid { field, message }) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &Setup {
                layout: Layout::bare(web.synthetic),
                error: Some(format!("{field}: {message}")),
                token,
                name: user.display_name,
                email: user.email,
            },
        ),
        Err(AppError::NotFound) => link_gone(&web),
        Err(e) => PageError(e).into_response(),
    }
}
