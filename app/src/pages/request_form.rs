//! The request form: who leaves, why, how urgently, and what will run. Opened from a user's page
//! or a mismatch-report row (`/requests/new?user=<id>`). The reason is the requester's to choose
//! and to say: nothing is preselected or written for them.

use crate::api;
use crate::components::{ErrorMessage, Moment, parse_local, zone_at};
use deprov_wire::api::{ApiError, UserDetail};
use deprov_wire::directory::LyncState;
use deprov_wire::method::Method;
use deprov_wire::workflow::{NewRequest, ReasonCategory, Urgency};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use time::OffsetDateTime;

#[component]
pub fn NewRequestPage() -> impl IntoView {
    let query = use_query_map();
    let user_id = move || query.read().get("user").unwrap_or_default();
    let user = LocalResource::new(move || api::user(user_id()));
    view! {
        <section class="request-form">
            <h1>"Request de-provisioning"</h1>
            <Transition fallback=|| view! { <p class="status">"Loading the user…"</p> }>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(detail) => view! { <Form detail /> }.into_any(),
                        Err(message) => view! {
                            <p class="error" role="alert">{message}</p>
                            <p>"Start from " <a href="/">"the search"</a> " or the mismatch report."</p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The fields of the form, by their names in the API: a refusal naming one shows beside it.
const FIELDS: [&str; 6] = [
    "reason",
    "reason_text",
    "urgency",
    "effective_at",
    "grace_days",
    "protected_override",
];

/// The id of the error shown beside `field` (`error-reason_text`).
fn field_error_id(field: &'static str) -> &'static str {
    match field {
        "reason" => "error-reason",
        "reason_text" => "error-reason_text",
        "urgency" => "error-urgency",
        "effective_at" => "error-effective_at",
        "grace_days" => "error-grace_days",
        _ => "error-protected_override",
    }
}

#[component]
fn Form(detail: UserDetail) -> impl IntoView {
    let query = use_query_map();
    let reason = RwSignal::new(
        query
            .get_untracked()
            .get("reason")
            .and_then(|r| ReasonCategory::parse(&r)),
    );
    let reason_text = RwSignal::new(String::new());
    // A report row for a removal left unfinished outside deprov opens the form on "finish removal".
    let finishable = detail.lync_state == LyncState::TemporarilyDisabled;
    let urgency = RwSignal::new(
        query
            .get_untracked()
            .get("urgency")
            .and_then(|u| Urgency::parse(&u))
            .filter(|u| *u != Urgency::FinishRemoval || finishable)
            .unwrap_or(Urgency::Standard),
    );
    let effective = RwSignal::new(String::new());
    let grace = RwSignal::new("30".to_owned());
    let override_reason = RwSignal::new(String::new());
    // The last refusal, and the field at fault: shown beside that field, gone once it changes.
    let error = RwSignal::new(None::<ApiError>);
    let refuse = move |field: &str, message: &str| {
        error.set(Some(ApiError {
            message: message.to_owned(),
            field: Some(field.to_owned()),
        }))
    };
    // Editing a field clears a refusal about it: it may no longer hold.
    let edited = move |field: &'static str| {
        if error.with_untracked(|e| {
            e.as_ref()
                .is_some_and(|e| e.field.as_deref() == Some(field))
        }) {
            error.set(None);
        }
    };
    let beside = move |field: &'static str| {
        move || {
            error
                .get()
                .filter(|e| e.field.as_deref() == Some(field))
                .map(|e| view! { <ErrorMessage message=e.message id=field_error_id(field) /> })
        }
    };
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    let user_id = detail.user.id;
    let protected = detail.user.protected();
    let command = |method: Method| {
        detail
            .predictions
            .iter()
            .find(|p| p.method == method)
            .and_then(|p| p.command.clone())
    };
    let stage_one = command(Method::TemporarilyDisable).unwrap_or_default();
    let rename = command(Method::RenameSipAddress).unwrap_or_default();
    let revoke = command(Method::RevokeCertificate).unwrap_or_default();
    let remove = command(Method::RemoveFromLync).unwrap_or_default();

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(chosen_reason) = reason.get_untracked() else {
            refuse("reason", "Choose a reason.");
            return;
        };
        let grace_days = match grace.get_untracked().trim().parse::<u32>() {
            Ok(days) => days,
            Err(_) => {
                refuse("grace_days", "The grace period is a whole number of days.");
                return;
            }
        };
        let new = NewRequest {
            user_id: Some(user_id),
            user: None,
            external_ref: None,
            reason: chosen_reason,
            reason_text: reason_text.get_untracked(),
            urgency: urgency.get_untracked(),
            effective_at: parse_local(&effective.get_untracked()),
            grace_days: Some(grace_days),
            protected_override: protected.then(|| override_reason.get_untracked()),
        };
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::create_request(new).await {
                Ok(created) => navigate(
                    &format!("/requests/{}", created.id),
                    NavigateOptions::default(),
                ),
                Err(refusal) => {
                    error.set(Some(refusal));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <p class="sub">"For " <a href=format!("/users/{}", detail.user.id)>{detail.user.ad.display_name.clone()}</a>
            " (" {detail.user.ad.sam_account_name.clone()} "), as of " <Moment at=detail.as_of /> "."</p>
        {(!detail.warnings.is_empty()).then(|| view! {
            <ul class="warnings" role="alert">{detail.warnings.iter().map(|w| view! { <li>{w.clone()}</li> }).collect_view()}</ul>
        })}
        <form class="card form" on:submit=submit>
            <label for="reason">"Reason"</label>
            <select id="reason" on:change=move |ev| { edited("reason"); reason.set(ReasonCategory::parse(&event_target_value(&ev))) }
                prop:value=move || reason.get().map_or("", |r| r.as_str())>
                <option value="">"Choose a reason"</option>
                {ReasonCategory::ALL.map(|r| view! { <option value=r.as_str()>{r.label()}</option> })}
            </select>
            {beside("reason")}
            <label for="reason-text">"What happened (for the approver and the audit log)"</label>
            <textarea id="reason-text" rows="3" required prop:value=move || reason_text.get()
                on:input=move |ev| { edited("reason_text"); reason_text.set(event_target_value(&ev)) }></textarea>
            {beside("reason_text")}
            <fieldset>
                <legend>"Urgency"</legend>
                <label><input type="radio" name="urgency" id="urgency-standard" prop:checked=move || urgency.get() == Urgency::Standard
                    on:change=move |_| { edited("urgency"); urgency.set(Urgency::Standard) } /> " " {Urgency::Standard.label()}</label>
                <div class="sub plan">"Stage 1: " <code>{stage_one.clone()}</code> " — reversible, data kept. After the grace period: backup (Export-CsUserData), then " <code>{remove.clone()}</code> "."</div>
                <label><input type="radio" name="urgency" id="urgency-immediate" prop:checked=move || urgency.get() == Urgency::ImmediateDisconnect
                    on:change=move |_| { edited("urgency"); urgency.set(Urgency::ImmediateDisconnect) } /> " " {Urgency::ImmediateDisconnect.label()}</label>
                <div class="sub plan">"Stage 1 also renames the SIP address (disconnects at once: " <code>{rename.clone()}</code>
                    ") and revokes the certificates (" <code>{revoke.clone()}</code> ", cannot be undone)."</div>
                {finishable.then(|| view! {
                    <label><input type="radio" name="urgency" id="urgency-finish" prop:checked=move || urgency.get() == Urgency::FinishRemoval
                        on:change=move |_| { edited("urgency"); urgency.set(Urgency::FinishRemoval) } /> " " {Urgency::FinishRemoval.label()}</label>
                    <div class="sub plan">"Lync was disabled outside deprov: once approved, stage 2 runs at once — backup (Export-CsUserData), then "
                        <code>{remove.clone()}</code> "."</div>
                })}
            </fieldset>
            {beside("urgency")}
            <label for="effective">{format!("Takes effect (your time, {}; empty: as soon as it is approved)",
                zone_at(OffsetDateTime::now_utc()).1)}</label>
            <input id="effective" type="datetime-local" prop:value=move || effective.get()
                on:input=move |ev| { edited("effective_at"); effective.set(event_target_value(&ev)) } />
            {beside("effective_at")}
            <label for="grace">"Grace period before final removal (days)"</label>
            <input id="grace" type="number" min="1" max="365" prop:value=move || grace.get()
                on:input=move |ev| { edited("grace_days"); grace.set(event_target_value(&ev)) } />
            {beside("grace_days")}
            {protected.then(|| view! {
                <label for="override">"Protected account: why acting on it is justified (recorded; needs two approvals)"</label>
                <textarea id="override" rows="2" prop:value=move || override_reason.get()
                    on:input=move |ev| { edited("protected_override"); override_reason.set(event_target_value(&ev)) }></textarea>
                {beside("protected_override")}
            })}
            // A refusal about no field of this form (the user, an open request) shows here.
            {move || error.get().filter(|e| {
                    // The override field shows only for a protected user: a user who joined a
                    // protected group after the page loaded gets the refusal here.
                    let field = e.field.as_deref().unwrap_or_default();
                    !FIELDS.contains(&field) || (field == "protected_override" && !protected)
                })
                .map(|e| view! { <ErrorMessage message=e.message id="request-error" /> })}
            <button id="submit-request" class="primary" type="submit" disabled=move || busy.get()>"Send for approval"</button>
        </form>
    }
}
