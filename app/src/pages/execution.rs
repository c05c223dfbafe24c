//! A request's execution against Lync, live: the operations that ran with each step's state,
//! timing and output (pushed by the server as they happen), and what could run next, each step
//! as its exact command with its predicted effect. Admins run, confirm, retry and download the
//! backup here.

use crate::components::{Moment, when};
use crate::{api, session};
use deprov_wire::execution::{
    ExecuteBody, ExecutionView, Operation, OperationPlan, OperationView, ReenableAsk, RetryBody,
    StepState, Verification, VerificationState,
};
use deprov_wire::people::Role;
use deprov_wire::workflow::RequestState;
use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

/// Follows `/api/requests/{id}/execution/events` into `live`; the browser reconnects by itself.
fn follow(id: i64, live: RwSignal<Option<ExecutionView>>, lost: RwSignal<bool>) {
    let Ok(source) = EventSource::new(&format!("/api/requests/{id}/execution/events")) else {
        lost.set(true);
        return;
    };
    let on_view = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(view) = event
            .data()
            .as_string()
            .and_then(|d| serde_json::from_str::<ExecutionView>(&d).ok())
        {
            live.set(Some(view));
            lost.set(false);
        }
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| lost.set(true));
    let _ = source.add_event_listener_with_callback("execution", on_view.as_ref().unchecked_ref());
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let handlers = SendWrapper::new((source, on_view, on_error));
    on_cleanup(move || handlers.0.close());
}

/// `on_state_change` is called when the request's state changes, so the page around can refresh.
#[component]
pub fn Execution(id: i64, on_state_change: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let me = session();
    let live = RwSignal::new(None::<ExecutionView>);
    let lost = RwSignal::new(false);
    let notice = RwSignal::new(None::<String>);
    let confirm = Confirm {
        open: RwSignal::new(None),
        typed: RwSignal::new(String::new()),
        reason: RwSignal::new(String::new()),
        busy: RwSignal::new(false),
    };
    follow(id, live, lost);
    let state = Memo::new(move |_| live.with(|v| v.as_ref().map(|v| v.request.state)));
    // The memo changes only with the state; the first state seen is no change.
    Effect::new(move |previous: Option<Option<RequestState>>| {
        let now = state.get();
        if matches!(previous, Some(Some(_))) {
            on_state_change();
        }
        now
    });
    view! {
        <section class="execution" id="execution">
            {move || lost.get().then(|| view! { <p class="hint">"Live progress interrupted: reconnecting…"</p> })}
            {move || notice.get().map(|n| view! { <p class="error" role="alert" id="execution-error">{n}</p> })}
            // Drawn once the session is known too: what an admin sees is decided while drawing.
            {move || live.get().filter(|_| me.0.with(Option::is_some))
                .map(|view| view! { <ExecutionBody view notice confirm live /> })}
        </section>
    }
}

#[component]
fn ExecutionBody(
    view: ExecutionView,
    notice: RwSignal<Option<String>>,
    confirm: Confirm,
    live: RwSignal<Option<ExecutionView>>,
) -> impl IntoView {
    let me = session();
    // Seconds from the deployment's clock to stage 2's due date, when it is still ahead.
    let to_due = view
        .request
        .stage_two_due_at
        .map(|due| (due - view.as_of).whole_seconds() + 1)
        .filter(|s| *s > 0 && view.request.state == RequestState::StageOneDone);
    let admin = me.has(Role::Admin);
    let id = view.request.id;
    let version = view.request.version;
    let retrying = RwSignal::new(false);
    // The answer's view is not shown: the event stream is the one source of what the page shows,
    // so an answer overtaken by newer events cannot put an older state (and version) back.
    let retry = move |_| {
        notice.set(None);
        retrying.set(true);
        spawn_local(async move {
            if let Err(message) = api::retry(id, RetryBody { version }).await {
                notice.set(Some(message));
            }
            retrying.set(false);
        });
    };
    let writable = view.read_only.is_none();
    view! {
        {view.read_only.clone().map(|why| view! { <p class="warning" id="read-only">{why}</p> })}
        {(!view.operations.is_empty()).then(|| view! {
            <h2>"What ran against Lync"</h2>
            {view.operations.iter().cloned().map(|op| view! { <OperationRun op timeout=view.step_timeout_secs /> }).collect_view()}
        })}
        {(admin && writable && view.can_retry).then(|| view! {
            <p class="pager"><button id="retry" class="primary" disabled=move || retrying.get() on:click=retry>"Retry from the failed step"</button>
                <span class="hint">" A step whose outcome is unknown is checked by reading the user first; it is never run twice."</span></p>
        })}
        {(admin && view.backup_taken_at.is_some()).then(|| view! {
            <p><a id="backup" href=format!("/api/requests/{id}/backup") download="">"Download the backup"</a>
                <span class="hint">{format!(" (taken {})", view.backup_taken_at.map(when).unwrap_or_default())}</span></p>
        })}
        {to_due.filter(|_| me.simulator_controls()).map(|seconds| view! {
            <p class="hint">"Demo: "
                <button id="jump-to-due" on:click=move |_| {
                    spawn_local(async move {
                        // A clock move is no execution event: read the plan again.
                        match api::advance_clock(seconds).await {
                            Ok(()) => match api::execution(id).await {
                                Ok(view) => live.set(Some(view)),
                                Err(message) => notice.set(Some(message)),
                            },
                            Err(message) => notice.set(Some(message)),
                        }
                    });
                }>"Move the simulated clock to the due date"</button>
                " (the simulator's clock only; the stage 2 plan then becomes runnable)"</p>
        })}
        {view.next.iter().cloned().map(|plan| {
            let ask = view.reenable_ask.clone().filter(|a| a.operation == plan.operation);
            view! { <PlanCard plan ask admin version id notice confirm /> }
        }).collect_view()}
    }
}

fn step_class(state: StepState) -> &'static str {
    match state {
        StepState::Pending => "badge muted",
        StepState::Running => "badge warn",
        StepState::Done => "badge ok",
        StepState::Failed | StepState::Unknown => "badge cert",
    }
}

#[component]
fn OperationRun(op: OperationView, timeout: u64) -> impl IntoView {
    view! {
        <div class="card operation" data-operation=op.operation.as_str() data-state=op.state.as_str()>
            <h3>{op.operation.label()} <span class="sub">{format!(" · started by {} · {}", op.started_by, when(op.started_at))}</span></h3>
            <ol class="steps">
                {op.steps.into_iter().map(|step| view! {
                    <li class="step" data-state=step.state.as_str()>
                        <span class=step_class(step.state)>{step.state.as_str()}</span>" "
                        <strong>{step.title}</strong>
                        {step.duration_ms.map(|ms| view! { <span class="sub">{format!(" · {ms} ms")}</span> })}
                        {step.started_at.filter(|_| step.state == StepState::Running)
                            .map(|since| view! { <Elapsed since timeout /> })}
                        {(step.attempts > 1).then(|| view! { <span class="sub">{format!(" · {} attempts", step.attempts)}</span> })}
                        {step.run_by.map(|by| view! { <span class="sub">{format!(" · {by}")}</span> })}
                        <div><code>{step.command}</code></div>
                        {(!step.output.is_empty()).then(|| view! { <div class="sub">{step.output}</div> })}
                        {step.error.map(|e| view! { <div class="error">{e}</div> })}
                        {step.note.map(|n| view! { <div class="hint">{n}</div> })}
                        {step.verification.map(|v| view! { <Checked verification=v /> })}
                    </li>
                }).collect_view()}
            </ol>
        </div>
    }
}

/// How long a running step has waited on the backend, against the limit after which deprov
/// stops waiting and reads the user back: ticks every second while shown.
#[component]
fn Elapsed(since: time::OffsetDateTime, timeout: u64) -> impl IntoView {
    let now = RwSignal::new(time::OffsetDateTime::now_utc());
    if let Ok(ticker) = set_interval_with_handle(
        move || now.set(time::OffsetDateTime::now_utc()),
        std::time::Duration::from_secs(1),
    ) {
        on_cleanup(move || ticker.clear());
    }
    view! {
        <span class="sub elapsed">{move || {
            let waited = (now.get() - since).whole_seconds().max(0);
            format!(" · waiting on Lync for {waited} s of the {timeout} s limit; then deprov reads the user back")
        }}</span>
    }
}

/// A step's verification: scheduled, verified, or loudly NOT as predicted.
#[component]
fn Checked(verification: Verification) -> impl IntoView {
    let (class, text) = match verification.state {
        VerificationState::Pending => (
            "verification pending",
            format!(
                "To be verified at {}, when the effect should show.",
                when(verification.due_at)
            ),
        ),
        VerificationState::Verified => ("verification good", verification.text),
        VerificationState::NotAsPredicted => ("verification bad", verification.text),
        VerificationState::Unverifiable => ("verification muted", verification.text),
    };
    let alert = (verification.state == VerificationState::NotAsPredicted).then_some("alert");
    view! { <div class=class role=alert data-verification=verification.state.as_str()>{text}</div> }
}

/// The confirmation in progress. Held by [`Execution`], not the cards: every event redraws the
/// cards, and a half-typed confirmation must survive that.
#[derive(Clone, Copy)]
struct Confirm {
    /// The operation being confirmed.
    open: RwSignal<Option<Operation>>,
    typed: RwSignal<String>,
    /// Why Lync is given back (roll back, restore).
    reason: RwSignal<String>,
    busy: RwSignal<bool>,
}

#[component]
fn PlanCard(
    plan: OperationPlan,
    /// Another admin's ask to run this, waiting for a second admin.
    ask: Option<ReenableAsk>,
    admin: bool,
    version: i64,
    id: i64,
    notice: RwSignal<Option<String>>,
    confirm: Confirm,
) -> impl IntoView {
    let Confirm {
        open: confirming,
        typed,
        reason,
        busy,
    } = confirm;
    let re_enables = plan.operation.re_enables();
    let second_admin = plan.second_admin.clone();
    let asked_by_me = ask.as_ref().is_some_and(|a| {
        session().0.with(|m| {
            m.as_ref()
                .is_some_and(|m| m.name.eq_ignore_ascii_case(&a.asked_by))
        })
    });
    // The button says what pressing it does: ask, confirm another's ask, or run.
    let run_label = match (&second_admin, &ask) {
        (Some(_), None) => "Ask a second admin",
        (Some(_), Some(_)) if asked_by_me => "Waiting for another admin",
        _ => "Confirm and run",
    };
    let operation = plan.operation;
    let confirm_with = plan.confirm_with.clone();
    let needs_name = confirm_with.clone();
    let run = move || {
        busy.set(true);
        notice.set(None);
        let confirm = Some(typed.get_untracked()).filter(|t| !t.is_empty());
        let why = re_enables.then(|| reason.get_untracked());
        spawn_local(async move {
            match api::execute(
                id,
                ExecuteBody {
                    operation,
                    version,
                    confirm,
                    reason: why,
                },
            )
            .await
            {
                // Progress arrives on the event stream; only a refusal is shown from the answer.
                Ok(_) => {
                    confirming.set(None);
                    typed.set(String::new());
                    reason.set(String::new());
                }
                Err(message) => notice.set(Some(message)),
            }
            busy.set(false);
        });
    };
    let can_run = admin && plan.refused.is_none();
    // Focus moves into the confirmation when it opens, to its first field or button.
    let dialog = NodeRef::<leptos::html::Div>::new();
    Effect::new(move || {
        if let Some(dialog) = dialog.get()
            && let Ok(Some(first)) = dialog.query_selector("textarea, input, button")
            && let Ok(first) = first.dyn_into::<web_sys::HtmlElement>()
        {
            let _ = first.focus();
        }
    });
    let count = plan.steps.len();
    view! {
        <div class="card operation-plan" data-plan=operation.as_str()>
            <h2>{format!("Plan: {}", operation.label())}</h2>
            {plan.refused.clone().map(|r| view! { <p class="hint refused">{r}</p> })}
            {plan.warnings.iter().map(|w| view! { <p class="warning">{w.clone()}</p> }).collect_view()}
            {second_admin.clone().map(|why| view! { <p class="warning second-admin">{why}</p> })}
            {ask.clone().map(|a| view! {
                <p class="warning" id=format!("ask-{}", operation.as_str())>
                    {format!("{} asked for this {} at {}: \u{201c}{}\u{201d}. ", a.asked_by, operation.label().to_lowercase(), when(a.asked_at), a.reason)}
                    {if asked_by_me { "Another admin must confirm it." } else { "Waiting for a second admin: you can confirm it." }}
                </p>
            })}
            <ol class="steps">
                {plan.steps.into_iter().map(|step| view! {
                    <li class="planned" class:destructive=step.destructive>
                        <strong>{step.title}</strong>
                        {step.destructive.then(|| view! { <span class="badge cert">"destroys or hides data"</span> })}
                        <div><code>{step.command}</code></div>
                        <div class="effect">{step.effect}</div>
                        {(!step.timeline.is_empty()).then(|| view! {
                            <ul class="timeline">{step.timeline.into_iter().map(|t| view! { <li><Moment at=t.at /> ": " {t.what}</li> }).collect_view()}</ul>
                        })}
                    </li>
                }).collect_view()}
            </ol>
            {can_run.then(|| view! {
                <Show when=move || confirming.get() != Some(operation) fallback=move || {
                    let needs_name = needs_name.clone();
                    let expected = needs_name.clone().unwrap_or_default();
                    view! {
                        <div class="confirm" id=format!("confirm-{}", operation.as_str()) role="dialog" aria-modal="false" node_ref=dialog
                            aria-label=format!("Confirm {}", operation.label().to_lowercase())
                            // Esc closes it, as a dialog does.
                            on:keydown=move |ev| if ev.key() == "Escape" { confirming.set(None) }>
                            <p><strong>{if second_admin.is_some() && ask.is_none() {
                                format!("This asks a second admin to confirm; it runs {count} step(s) once confirmed.")
                            } else {
                                format!("This runs {count} step(s) against Lync now, in this order.")
                            }}</strong></p>
                            {re_enables.then(|| view! {
                                <label for="reenable-reason">"Why give Lync back (recorded in the audit log):"</label>
                                <textarea id="reenable-reason" rows="2" prop:value=move || reason.get()
                                    on:input=move |ev| reason.set(event_target_value(&ev))></textarea>
                            })}
                            {needs_name.clone().map(|name| view! {
                                <label for="confirm-name">{format!("Some steps destroy or hide data, or cannot be undone. Type {name} to confirm:")}</label>
                                <input id="confirm-name" autocomplete="off" prop:value=move || typed.get()
                                    on:input=move |ev| typed.set(event_target_value(&ev)) />
                            })}
                            <div class="pager">
                                <button id="confirm-run" class="primary"
                                    disabled=move || busy.get() || (!expected.is_empty() && !typed.get().trim().eq_ignore_ascii_case(&expected))
                                        || (re_enables && reason.get().trim().is_empty())
                                        || asked_by_me
                                    on:click=move |_| run()>{run_label}</button>
                                <button on:click=move |_| confirming.set(None)>"Not now"</button>
                            </div>
                        </div>
                    }
                }>
                    <button class="primary run" id=format!("run-{}", operation.as_str())
                        on:click=move |_| { typed.set(String::new()); confirming.set(Some(operation)) }>{format!("Run {}…", operation.label().to_lowercase())}</button>
                </Show>
            })}
            {(!admin).then(|| view! { <p class="hint">"Only an admin can run this."</p> })}
        </div>
    }
}
