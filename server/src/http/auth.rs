//! Who is asking: the `Signed` extractor every protected handler takes, and `/api/session`
//! (sign in, who am I, sign out). Deny by default: a handler without `Signed` is public, and the
//! authorization test lists the few that may be.

use super::AppState;
use super::error::{AppError, Body};
use crate::audit::{self, Event};
use crate::people::accounts::valid_name;
use crate::people::ad;
use crate::people::sessions::{self, COOKIE, Session};
use crate::people::throttle::Attempt;
use crate::people::tokens;
use crate::people::{PrincipalSource, SignInError};
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use deprov_wire::api::ApiError;
use deprov_wire::people::{Me, Role, SignIn};
use std::marker::PhantomData;
use std::net::SocketAddr;
use time::OffsetDateTime;

/// The longest sign-in name (an AD user principal name is at most 256 characters)...
const MAX_NAME: usize = 256;
/// ... and the longest password anyone types.
const MAX_PASSWORD: usize = 1024;

/// The header a state-changing request must carry, with the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in person. As an extractor it answers 401 without a live session, and 403 for a
/// state-changing request without the session's CSRF token. Endpoints for people with a role
/// take [`Holding`] instead.
pub struct Signed(pub Session);

/// The roles that may call an endpoint, as a type for [`Holding`].
pub trait Holders: Send + Sync {
    const ROLES: &'static [Role];
}

/// Anyone with a role: the directory, the report, requests and executions are read by all.
pub struct AnyRole;
/// Admins: execution, its settings and backups, the simulator's controls.
pub struct Admins;
/// Approvers: approving and rejecting.
pub struct Approvers;
/// Managers: filing requests.
pub struct Requesters;
/// Auditors and admins: the audit log.
pub struct Readers;
/// Whoever may cancel a request: its manager, or an approver or admin (the workflow decides
/// which requests each may cancel).
pub struct RequestParties;

impl Holders for AnyRole {
    const ROLES: &'static [Role] = &Role::ALL;
}
impl Holders for Admins {
    const ROLES: &'static [Role] = &[Role::Admin];
}
impl Holders for Approvers {
    const ROLES: &'static [Role] = &[Role::Approver];
}
impl Holders for Requesters {
    const ROLES: &'static [Role] = &[Role::Requester];
}
impl Holders for Readers {
    const ROLES: &'static [Role] = &[Role::Auditor, Role::Admin];
}
impl Holders for RequestParties {
    const ROLES: &'static [Role] = &[Role::Requester, Role::Approver, Role::Admin];
}

/// A signed-in person holding one of `H::ROLES`. As an extractor it comes before the body and
/// query are read: a caller without the role gets 403 and learns nothing of what the endpoint
/// takes, whatever they sent.
pub struct Holding<H>(Session, PhantomData<H>);

impl<H> Holding<H> {
    pub fn into_session(self) -> Session {
        self.0
    }
}

impl<H> std::ops::Deref for Holding<H> {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.0
    }
}

impl<H: Holders> FromRequestParts<AppState> for Holding<H> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Signed(session) = Signed::from_request_parts(parts, state).await?;
        if H::ROLES.iter().any(|role| session.has(*role)) {
            return Ok(Self(session, PhantomData));
        }
        let names: Vec<_> = H::ROLES.iter().map(|r| r.as_str()).collect();
        Err(AppError::Forbidden(format!(
            "This needs the {} role.",
            names.join(" or ")
        )))
    }
}

/// The secret of `Authorization: Bearer <secret>`, if the request carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim())
        .filter(|s| !s.is_empty())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // Another system, with an API token: no CSRF token, as no browser sends this by itself.
        if let Some(secret) = bearer(&parts.headers) {
            let session = tokens::find(&state.store, secret)
                .await?
                .ok_or(AppError::Unauthorized)?;
            return Ok(Self(session));
        }
        let token = cookie(&parts.headers, COOKIE).ok_or(AppError::Unauthorized)?;
        let session = sessions::find(&state.store, token, state.people.sessions)
            .await?
            .ok_or(AppError::Unauthorized)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !safe && sent != Some(session.csrf_token.as_str()) {
            return Err(AppError::Forbidden(
                "This change came without the page's CSRF token: reload the page and try again."
                    .to_owned(),
            ));
        }
        Ok(Self(session))
    }
}

/// The client's address, when the server was started with connection info (for the throttle).
pub struct ClientAddress(Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        ))
    }
}

fn session_cookie(value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Signs in with a name and password; sets the session cookie.
#[utoipa::path(post, path = "/api/session", tag = "session", request_body = SignIn,
    responses((status = 200, body = Me), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 422, body = ApiError), (status = 429, body = ApiError),
        (status = 503, body = ApiError)))]
pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Body(body): Body<SignIn>,
) -> Result<Response, AppError> {
    let SignIn { name, password } = body;
    let name = name.trim().to_owned();
    // Longer than any name or password: refused before anything is counted or checked.
    if name.chars().count() > MAX_NAME {
        return Err(AppError::Unprocessable {
            message: format!("A name has at most {MAX_NAME} characters."),
            field: Some("name"),
        });
    }
    if password.chars().count() > MAX_PASSWORD {
        return Err(AppError::Unprocessable {
            message: format!("A password has at most {MAX_PASSWORD} characters."),
            field: Some("password"),
        });
    }
    let now = OffsetDateTime::now_utc();
    // Never record what is not a possible name: it may be a password typed in the wrong box.
    let possible = valid_name(&name) || ad::is_ad_name(&name);
    let recorded = if possible {
        name.as_str()
    } else {
        "(not a valid account name)"
    };
    let attempt = Attempt::new(recorded, address);
    if let Err(refused) = state.people.throttle.attempt(&attempt).await? {
        if let Some(report) = &refused.report {
            let event = Event {
                actor: recorded,
                action: "session.sign_in_throttled",
                subject: recorded,
                details: report.clone(),
                change: None,
            };
            audit::record(&state.store, now, event).await?;
        }
        return Err(AppError::TooManyAttempts(refused.retry_after_secs()));
    }
    let outcome = if possible {
        state
            .people
            .authenticator
            .authenticate(&name, &password)
            .await
    } else {
        Err(SignInError::Rejected)
    };
    let who = match outcome {
        Ok(who) => who,
        Err(SignInError::Store(error)) => return Err(error.into()),
        Err(error) => {
            let event = Event {
                actor: recorded,
                action: "session.sign_in_failed",
                subject: recorded,
                details: error.to_string(),
                change: None,
            };
            audit::record(&state.store, now, event).await?;
            return Err(match error {
                SignInError::Rejected => AppError::WrongCredentials,
                SignInError::EmptyPassword => {
                    AppError::bad_request("password", "Type your password.")
                }
                SignInError::Unavailable(why) => AppError::BackendUnavailable(format!(
                    "The directory cannot be reached to check your password ({why}). Try again, \
                     or sign in with a local account."
                )),
                SignInError::NoRole => AppError::Forbidden(
                    "Your AD account is in none of the groups that give a role in deprov: \
                     ask an administrator to add you to one."
                        .to_owned(),
                ),
                other => AppError::Forbidden(format!("{}.", capitalised(&other.to_string()))),
            });
        }
    };
    state.people.throttle.succeeded(&attempt).await?;
    if who.source == PrincipalSource::ActiveDirectory {
        // AD people are known only from signing in: remember where to tell them of work.
        crate::notify::routes::remember_ad_person(
            &state.store,
            &who.name,
            who.mail.as_deref(),
            &who.roles,
        )
        .await?;
    }
    let mut write = state.store.write().await?;
    let token = sessions::start(&mut write, &who, state.people.sessions).await?;
    let event = Event {
        actor: &who.name,
        action: "session.sign_in",
        subject: &who.name,
        details: match who.source {
            PrincipalSource::ActiveDirectory => {
                let roles: Vec<_> = who.roles.iter().map(|r| r.as_str()).collect();
                format!("AD account; roles from AD groups: {}", roles.join(", "))
            }
            PrincipalSource::Local { .. } => "local account".to_owned(),
        },
        change: None,
    };
    audit::append(&mut write, now, event).await?;
    write.commit().await?;
    let session = sessions::find(&state.store, &token, state.people.sessions)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let cookie = session_cookie(
        &token,
        state.people.sessions.lifetime.whole_seconds(),
        state.people.secure_cookies,
    );
    let me = me_of(session, &state);
    Ok(([(header::SET_COOKIE, cookie)], Json(me)).into_response())
}

/// "the AD account is disabled" → "The AD account is disabled".
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn me_of(session: Session, state: &AppState) -> Me {
    Me {
        simulator_controls: state.deployment.simulator.is_some()
            && session.roles.contains(&Role::Admin),
        name: session.name,
        roles: session.roles,
        csrf_token: session.csrf_token,
    }
}

/// Who is signed in, with the CSRF token for state-changing requests.
#[utoipa::path(get, path = "/api/session", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ApiError)))]
pub async fn me(State(state): State<AppState>, signed: Signed) -> Json<Me> {
    Json(me_of(signed.0, &state))
}

/// Signs out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/session", tag = "session",
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn sign_out(State(state): State<AppState>, signed: Signed) -> Result<Response, AppError> {
    let mut write = state.store.write().await?;
    sessions::end(&mut write, &signed.0).await?;
    let event = Event {
        actor: &signed.0.name,
        action: "session.sign_out",
        subject: &signed.0.name,
        details: String::new(),
        change: None,
    };
    audit::append(&mut write, OffsetDateTime::now_utc(), event).await?;
    write.commit().await?;
    let cookie = session_cookie("", 0, state.people.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
