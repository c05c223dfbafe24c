//! `/api/users`: search the directory, and one user with what each method would do now.

use super::AppState;
use super::auth::{AnyRole, Holding};
use super::error::{AppError, Params, Segment, parse_user_id, query_number};
use crate::directory::search::SearchQuery;
use crate::predict;
use crate::workflow;
use axum::Json;
use axum::extract::State;
use deprov_wire::api::{
    ApiError, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Pools, SearchResults, UserDetail, UserSummary,
};
use deprov_wire::directory::{AdState, DirectoryUser, LyncAccount, LyncState};
use serde::Deserialize;
use time::OffsetDateTime;

/// The longest query text accepted: longer than any name, short enough to stay cheap.
const MAX_QUERY_LEN: usize = 200;
/// Past this offset a search is someone paging by script: ask them to narrow it.
const MAX_OFFSET: usize = 250_000;

/// Query parameters of `GET /api/users`, validated by hand so each mistake gets its own sentence.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Any part of the display name, sAMAccountName, UPN or SIP address; several words must all match.
    q: Option<String>,
    /// AD state: `enabled` or `disabled`.
    ad: Option<String>,
    /// Lync state: `enabled`, `temporarily_disabled` or `never_enabled`.
    lync: Option<String>,
    /// Registrar pool FQDN.
    pool: Option<String>,
    /// Matches to skip (default 0).
    offset: Option<String>,
    /// Page size, 1 to 100 (default 25).
    limit: Option<String>,
}

impl SearchParams {
    fn validate(self) -> Result<SearchQuery, AppError> {
        let text = self.q.unwrap_or_default();
        if text.chars().count() > MAX_QUERY_LEN {
            return Err(AppError::bad_request(
                "q",
                format!("The search text is longer than {MAX_QUERY_LEN} characters."),
            ));
        }
        let ad = match self.ad.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(AdState::parse(s).ok_or_else(|| {
                AppError::bad_request(
                    "ad",
                    format!("AD state '{s}' is unknown: use 'enabled' or 'disabled'."),
                )
            })?),
        };
        let lync = match self.lync.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(LyncState::parse(s).ok_or_else(|| {
                AppError::bad_request(
                    "lync",
                    format!("Lync state '{s}' is unknown: use 'enabled', 'temporarily_disabled' or 'never_enabled'."),
                )
            })?),
        };
        Ok(SearchQuery {
            text,
            ad,
            lync,
            pool: self.pool.filter(|p| !p.is_empty()),
            offset: query_number("offset", self.offset, 0, 0..=MAX_OFFSET)?,
            limit: query_number("limit", self.limit, DEFAULT_PAGE_SIZE, 1..=MAX_PAGE_SIZE)?,
        })
    }
}

/// Searches the portal's copy of the directory; sorted by relevance, then display name.
#[utoipa::path(get, path = "/api/users", tag = "directory", params(SearchParams),
    responses((status = 200, body = SearchResults), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn search(
    State(state): State<AppState>,
    _: Holding<AnyRole>,
    Params(params): Params<SearchParams>,
) -> Result<Json<SearchResults>, AppError> {
    let query = params.validate()?;
    let snapshot = state.directory.snapshot();
    let now = state.deployment.directory.now();
    let (page, total) = snapshot.search(&query);
    let users = page.into_iter().map(|user| summary(user, now)).collect();
    Ok(Json(SearchResults {
        total,
        offset: query.offset,
        limit: query.limit,
        users,
    }))
}

fn summary(user: &DirectoryUser, now: OffsetDateTime) -> UserSummary {
    let lync = user.lync.as_ref();
    let certificates = user.certificate_sign_in_until(now);
    UserSummary {
        id: user.id,
        display_name: user.ad.display_name.clone(),
        sam_account_name: user.ad.sam_account_name.clone(),
        user_principal_name: user.ad.user_principal_name.clone(),
        sip_address: lync.map(|l| l.sip_address.clone()),
        department: user.ad.department.clone(),
        title: user.ad.title.clone(),
        ad_state: user.ad_state(),
        lync_state: user.lync_state(),
        registrar_pool: lync.and_then(|l| l.registrar_pool.clone()),
        homed_online: lync.is_some_and(LyncAccount::homed_online),
        protected: user.protected(),
        sip_disjoint_from_upn: user.sip_disjoint_from_upn(),
        endpoint_count: user.sessions(now).map(|s| s.len()),
        certificates_known: !certificates.is_unknown(),
        certificate_sign_in_until: certificates.into_known().flatten(),
    }
}

/// One user, read fresh from the backend, with what each de-provisioning method would do now.
#[utoipa::path(get, path = "/api/users/{id}", tag = "directory",
    params(("id" = String, Path, description = "The user's objectGUID")),
    responses((status = 200, body = UserDetail), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 503, body = ApiError)))]
pub async fn detail(
    State(state): State<AppState>,
    _: Holding<AnyRole>,
    Segment(id): Segment<String>,
) -> Result<Json<UserDetail>, AppError> {
    let id = parse_user_id(&id)?;
    let user = state.directory.fresh_user(id).await?;
    let now = state.deployment.directory.now();
    let snapshot = state.directory.snapshot();
    let renamed_sip = user.lync.as_ref().and_then(|lync| {
        predict::rename_target(&lync.sip_address, id.0.as_u128(), |sip| {
            snapshot.sip_in_use(sip)
        })
    });
    let manager_name = user
        .ad
        .manager
        .and_then(|m| snapshot.user(m))
        .map(|m| m.ad.display_name.clone());
    let open_request = state.workflow.open_requests().borrow().get(&id).copied();
    let sip_renamed = state.executor.sip_renamed(&user).await?;
    let mut warnings = predict::warnings(&user);
    if sip_renamed.is_some() {
        // Not a mystery: the page says who renamed it instead.
        let unexplained = predict::renamed_sip_warning();
        warnings.retain(|w| *w != unexplained);
    }
    let cannot_request = workflow::cannot_file(&user, state.report.config())
        .or_else(|| open_request.map(|open| workflow::already_open(&user.ad.display_name, &open)));
    Ok(Json(UserDetail {
        open_request,
        cannot_request,
        ad_state: user.ad_state(),
        lync_state: user.lync_state(),
        manager_name,
        as_of: now,
        warnings,
        predictions: predict::predict(
            &user,
            now,
            renamed_sip.as_ref(),
            sip_renamed.as_ref().map(|r| &r.original),
        ),
        sip_renamed,
        user,
    }))
}

/// The registrar pools in the directory, for the search filter.
#[utoipa::path(get, path = "/api/pools", tag = "directory", responses((status = 200, body = Pools), (status = 401, body = ApiError)))]
pub async fn pools(
    State(state): State<AppState>,
    _: Holding<AnyRole>,
) -> Result<Json<Pools>, AppError> {
    Ok(Json(Pools {
        pools: state.directory.snapshot().pools().to_vec(),
    }))
}
