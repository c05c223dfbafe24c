//! What the OpenAPI document says once for many operations: how a caller is identified (the
//! session cookie, and the CSRF header on changes) and the errors answered before or around any
//! handler (the extractors, the body limit, the panic catcher). `mod.rs` passes each group of
//! routes through [`Public`] or [`Guarded`], so a new route cannot leave these out.

use super::MAX_BODY;
use super::auth::CSRF_HEADER;
use crate::people::sessions::COOKIE;
use deprov_wire::api::ApiError;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Components, ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, PartialSchema};

/// The security scheme of the session cookie.
const SESSION: &str = "session";
/// The security scheme of the CSRF header, required with the cookie on every change.
const CSRF: &str = "csrf";
/// The security scheme of API tokens, for other systems.
const BEARER: &str = "bearer";

/// Routes anyone may call: the errors every operation can answer, and no security.
pub struct Public;

/// Routes behind [`super::auth::Holding`] or [`super::auth::Signed`]: the session cookie (and
/// the CSRF header on changes) as their security, 401 and 403, and what [`Public`] adds.
pub struct Guarded;

impl Modify for Public {
    fn modify(&self, openapi: &mut OpenApi) {
        for (_, operation) in operations(openapi) {
            shared_errors(operation);
        }
        error_schema(openapi.components.get_or_insert_with(Components::new));
    }
}

impl Modify for Guarded {
    fn modify(&self, openapi: &mut OpenApi) {
        for (changes, operation) in operations(openapi) {
            shared_errors(operation);
            document(operation, "401", "Not signed in, or the session has ended.");
            document(
                operation,
                "403",
                "Signed in without a role this needs, or a change without the session's CSRF token.",
            );
            let mut requirement = SecurityRequirement::new(SESSION, Vec::<String>::new());
            if changes {
                requirement = requirement.add(CSRF, Vec::<String>::new());
            }
            // Either the browser's session (with CSRF on changes), or an API token alone.
            let token = SecurityRequirement::new(BEARER, Vec::<String>::new());
            operation.security = Some(vec![requirement, token]);
        }
        let components = openapi.components.get_or_insert_with(Components::new);
        error_schema(components);
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                COOKIE,
                "The session, set by signing in (`POST /api/session`).",
            ))),
        );
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token for another system (`deprov token add NAME --role requester`): \
                         `Authorization: Bearer deprov_...`. No CSRF header is needed with it.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            CSRF,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                CSRF_HEADER,
                "The session's `csrf_token` (from signing in or `GET /api/session`), on every \
                 request that is not a GET.",
            ))),
        );
    }
}

/// Every operation in `openapi`, with whether it changes anything (is not a GET, HEAD or OPTIONS).
fn operations(openapi: &mut OpenApi) -> impl Iterator<Item = (bool, &mut Operation)> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        let PathItem {
            get,
            head,
            options,
            put,
            post,
            delete,
            patch,
            trace,
            ..
        } = item;
        let reads = [get, head, options].into_iter().flatten();
        let changes = [put, post, delete, patch, trace].into_iter().flatten();
        reads
            .map(|op| (false, op))
            .chain(changes.map(|op| (true, op)))
    })
}

/// The errors of the extractors and layers every operation passes through.
fn shared_errors(operation: &mut Operation) {
    let reads_input = operation.request_body.is_some()
        || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    if reads_input {
        document(
            operation,
            "400",
            "A path, query or body that cannot be read, or a value out of range (`field` names it).",
        );
    }
    if operation.request_body.is_some() {
        let limit = format!(
            "A body larger than the {} KB the API takes.",
            MAX_BODY / 1024
        );
        document(operation, "413", &limit);
    }
    document(
        operation,
        "500",
        "A bug in deprov (logged there); the body says only that.",
    );
}

/// Adds an error response for `status`, unless the route's own annotation already describes it.
fn document(operation: &mut Operation, status: &str, description: &str) {
    let error = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ApiError")))
        .build();
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", error)
                    .build(),
            )
        });
}

/// The schema the error responses refer to.
fn error_schema(components: &mut Components) {
    components
        .schemas
        .entry("ApiError".to_owned())
        .or_insert_with(ApiError::schema);
}
