//! Many requests at once: what became of each row of a batch, a CSV file of requests, and the
//! batches the blast-radius limit holds for a second admin (with who they would cut off).

use crate::components::{ErrorMessage, Moment};
use crate::{api, session};
use deprov_wire::people::Role;
use deprov_wire::workflow::{BatchState, BulkOutcome, HeldBatch};
use leptos::prelude::*;

/// What became of each row; a held batch says why nothing was filed yet.
#[component]
pub fn BulkAnswer(answer: BulkOutcome, dismiss: Callback<()>) -> impl IntoView {
    let held = answer.held.clone().filter(|b| b.state == BatchState::Held);
    let heading = match &held {
        Some(batch) => format!(
            "Held for a second admin: batch #{} of {} requests ({} refused)",
            batch.id,
            batch.users.len(),
            answer.refused
        ),
        None => format!("{} filed, {} refused", answer.filed, answer.refused),
    };
    view! {
        <section class="card" id="bulk-outcome" role="status">
            <h2>{heading}</h2>
            {held.map(|batch| view! {
                <p class="warning">{format!(
                    "Nothing is filed yet: with {} requests filed in the last hour, these {} would pass the limit of {} an hour. \
                     An admin other than you must confirm the batch (below, under Held batches), as a safeguard against a mistaken mass removal.",
                    batch.filed_in_hour, batch.users.len(), batch.limit)}</p>
            })}
            <ul>{answer.results.into_iter().map(|r| {
                let name = r.display_name.clone()
                    .or_else(|| r.user_id.map(|u| u.to_string()))
                    .unwrap_or_else(|| format!("Row {}", r.row));
                let user = r.user_id.map(|u| u.to_string()).unwrap_or_default();
                view! {
                    <li data-user=user.clone() data-row=r.row>
                        {if user.is_empty() { name.into_any() } else { view! { <a href=format!("/users/{user}")>{name}</a> }.into_any() }}
                        ": "
                        {match (r.request, r.refused) {
                            (Some(id), _) if r.existing => view! { "already filed as " <a href=format!("/requests/{id}")>{format!("#{id}")}</a> }.into_any(),
                            (Some(id), _) => view! { "filed as " <a href=format!("/requests/{id}")>{format!("#{id}")}</a> }.into_any(),
                            (None, Some(why)) => view! { <ErrorMessage message=why /> }.into_any(),
                            (None, None) => "held".into_any(),
                        }}
                    </li>
                }
            }).collect_view()}</ul>
            <button type="button" class="link" on:click=move |_| dismiss.run(())>"Dismiss"</button>
        </section>
    }
}

/// A CSV file of requests, one per row, each checked on its own.
#[component]
pub fn CsvUpload(changed: Callback<()>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<BulkOutcome>);
    let input = NodeRef::<leptos::html::Input>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let file = input
            .get_untracked()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0));
        let Some(file) = file else {
            error.set(Some("Choose a CSV file first.".into()));
            return;
        };
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(file.text())
                .await
                .ok()
                .and_then(|text| text.as_string());
            let answer = match text {
                Some(text) => api::create_bulk_csv(text).await,
                None => Err("The file could not be read as text.".into()),
            };
            match answer {
                Ok(answer) => {
                    outcome.set(Some(answer));
                    changed.run(());
                }
                Err(message) => error.set(Some(message)),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="card form" id="csv-upload" on:submit=submit>
            <h2>"Many leavers at once: a CSV file"</h2>
            <p class="sub">"A header row, then one request per row. Columns: "
                <code>"user"</code> " (sAMAccountName, user principal name, employeeID or objectGUID), "
                <code>"reason"</code> " (termination, resignation, end_of_contract, leave, other), "
                <code>"reason_text"</code> ", " <code>"urgency"</code> " (standard, immediate_disconnect, finish_removal); optional "
                <code>"effective_at"</code> ", " <code>"grace_days"</code> ", " <code>"external_ref"</code> ", "
                <code>"protected_override"</code> ". Each row is checked and answered on its own; more requests in an hour than the limit wait for a second admin."</p>
            <label for="csv-file">"CSV file"</label>
            <input type="file" id="csv-file" accept=".csv,text/csv" node_ref=input />
            {move || error.get().map(|message| view! { <ErrorMessage message id="csv-error" /> })}
            <div class="actions">
                <button id="csv-submit" class="primary" type="submit" disabled=move || busy.get()>"Send for approval"</button>
            </div>
        </form>
        {move || outcome.get().map(|answer| view! {
            <BulkAnswer answer dismiss=Callback::new(move |()| outcome.set(None)) />
        })}
    }
}

/// Batches held by the blast-radius limit: who they would cut off, and, for an admin who did not
/// file it, Confirm; for its filer or an admin, Discard.
#[component]
pub fn HeldBatches(refresh: RwSignal<u32>) -> impl IntoView {
    let me = session();
    let batches = LocalResource::new(move || {
        refresh.track();
        api::batches()
    });
    let error = RwSignal::new(None::<String>);
    let outcome = RwSignal::new(None::<BulkOutcome>);
    let decide = move |id: i64, confirm: bool| {
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::decide_batch(id, confirm).await {
                Ok(answer) => outcome.set(Some(answer)),
                Err(message) => error.set(Some(message)),
            }
            refresh.update(|n| *n += 1);
        });
    };
    let card = move |batch: HeldBatch| {
        let name = me.name().unwrap_or_default();
        let mine = batch.filed_by.eq_ignore_ascii_case(&name);
        let may_confirm = me.has(Role::Admin) && !mine;
        let may_discard = me.has(Role::Admin) || mine;
        let id = batch.id;
        view! {
            <article class="card batch" id=format!("batch-{id}")>
                <h3>{format!("Batch #{id}: {} requests by {}", batch.users.len(), batch.filed_by)}</h3>
                <p class="sub">"Filed " <Moment at=batch.filed_at /> {format!(
                    "; {} filed in the hour before, the limit is {} an hour. Nothing is filed until an admin other than {} confirms it.",
                    batch.filed_in_hour, batch.limit, batch.filed_by)}</p>
                <table class="batch-users">
                    <thead><tr><th>"Who"</th><th>"Account"</th><th>"Department"</th><th>"Urgency"</th></tr></thead>
                    <tbody>{batch.users.into_iter().map(|u| view! {
                        <tr><td><a href=format!("/users/{}", u.user_id)>{u.display_name}</a></td>
                            <td><code>{u.sam_account_name}</code></td><td>{u.department}</td><td>{u.urgency.label()}</td></tr>
                    }).collect_view()}</tbody>
                </table>
                <div class="actions">
                    {may_confirm.then(|| view! {
                        <button class="primary confirm-batch" on:click=move |_| decide(id, true)>"Confirm: file these requests"</button>
                    })}
                    {(!may_confirm && me.has(Role::Admin)).then(|| view! {
                        <p class="sub">"You filed this batch: another admin confirms it."</p>
                    })}
                    {may_discard.then(|| view! {
                        <button class="discard-batch" on:click=move |_| decide(id, false)>"Discard"</button>
                    })}
                </div>
            </article>
        }
    };
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let held: Vec<HeldBatch> = batches.await.unwrap_or_default()
                    .into_iter().filter(|b| b.state == BatchState::Held).collect();
                (!held.is_empty()).then(|| view! {
                    <section id="batches" class="batches">
                        <h2>"Held batches"</h2>
                        {held.into_iter().map(card).collect_view()}
                    </section>
                })
            })}
        </Transition>
        {move || error.get().map(|message| view! { <ErrorMessage message id="batch-error" /> })}
        {move || outcome.get().map(|answer| view! {
            <BulkAnswer answer dismiss=Callback::new(move |()| outcome.set(None)) />
        })}
    }
}
