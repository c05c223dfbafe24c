//! The user page: AD and Lync state, certificates, sessions, policies, and what each
//! de-provisioning method would do to this user right now.

use crate::components::{AdBadge, ErrorMessage, Flag, LyncBadge, Moment, OpenRequestLink, when};
use crate::{api, session};
use deprov_wire::api::UserDetail;
use deprov_wire::directory::{
    ClientCertificate, Endpoint, Fact, NOT_KNOWN_WITHOUT_SHELL, SignInMethod,
};
use deprov_wire::method::{MethodPrediction, Outcome, Tone};
use deprov_wire::people::Role;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use time::OffsetDateTime;

#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let resource = LocalResource::new(move || api::user(id()));
    view! {
        <section class="user">
            <p class="crumbs"><a href="/">"← Search"</a></p>
            <Transition fallback=|| view! { <p class="status">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match resource.await {
                        Ok(detail) => view! { <Detail detail refresh=move || resource.refetch() /> }.into_any(),
                        Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// This user's requests, open and closed, each with who must act and a link.
#[component]
fn UserRequests(user: String) -> impl IntoView {
    let requests = LocalResource::new(move || api::requests_for_user(user.clone()));
    view! {
        <section class="card" id="user-requests">
            <h2>"Requests"</h2>
            <Transition fallback=|| view! { <p class="status">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match requests.await {
                        Ok(list) if list.requests.is_empty() => view! {
                            <p id="user-requests-none">"No de-provisioning request for this user."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul>{list.requests.into_iter().map(|r| view! {
                                <li data-request=r.id>
                                    <a href=format!("/requests/{}", r.id)>{format!("#{}", r.id)}</a>
                                    " " {r.state.label()} " · filed by " {r.requested_by.clone()}
                                    " " <Moment at=r.created_at />
                                    {(!r.waiting_for.is_empty()).then(|| format!(" · {}", r.waiting_for))}
                                </li>
                            }).collect_view()}</ul>
                        }.into_any(),
                        Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Detail(detail: UserDetail, refresh: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let UserDetail {
        user,
        ad_state,
        lync_state,
        manager_name,
        as_of,
        warnings,
        predictions,
        open_request,
        cannot_request,
        sip_renamed,
    } = detail;
    let id = user.id;
    let ad = user.ad;
    let anomalies = user.anomalies;
    let sessions: Fact<Vec<Endpoint>> = user.endpoints.map(|endpoints| {
        endpoints
            .into_iter()
            .filter(|e| e.connected(as_of))
            .collect()
    });
    let lync = user.lync;
    let protected = !ad.protected_groups.is_empty();
    let online = lync.as_ref().is_some_and(|l| l.homed_online());

    view! {
        <header class="user-head">
            <h1 id="user-name">{ad.display_name.clone()}</h1>
            <p class="sub">{ad.title.clone()} " · " {ad.department.clone()}
                {manager_name.map(|m| format!(" · reports to {m}"))}</p>
            <p class="badges">
                <AdBadge state=ad_state />
                <LyncBadge state=lync_state />
                {protected.then(|| view! { <Flag text="protected" title="Member of a protected group (AdminSDHolder)" /> })}
                {online.then(|| view! { <Flag text="homed online" title="A hybrid user homed in Lync Online" /> })}
            </p>
            <p class="asof">"As of " <Moment at=as_of /> " " <button class="link" on:click=move |_| refresh()>"Refresh"</button></p>
            {open_request.map(|open| view! { <p id="open-request">"Open request: " <OpenRequestLink open /></p> })}
            {move || session().has(Role::Requester).then(|| match cannot_request.clone() {
                None => view! {
                    <a class="button primary" id="request-deprovisioning" href=format!("/requests/new?user={id}")>"Request de-provisioning"</a>
                }.into_any(),
                // Say why before anyone fills in a form that would be refused.
                Some(why) => view! { <ErrorMessage message=why id="cannot-request" /> }.into_any(),
            })}
        </header>
        {sip_renamed.map(|renamed| view! {
            <p class="warning" id="sip-renamed">
                "deprov renamed this SIP address to cut the user off, in request "
                <a href=format!("/requests/{}", renamed.request)>{format!("#{}", renamed.request)}</a>
                {format!(". It was {}; every undo below sets that address back.", renamed.original)}
            </p>
        })}
        {(!warnings.is_empty()).then(|| view! {
            <ul class="warnings" role="alert">{warnings.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}</ul>
        })}
        {(!anomalies.is_empty()).then(|| view! {
            <div class="warnings" id="anomalies">
                <p>"deprov could not read some of this user's directory values as expected:"</p>
                <ul>{anomalies.into_iter().map(|a| view! { <li>{a}</li> }).collect_view()}</ul>
            </div>
        })}

        <UserRequests user=id.to_string() />

        <h2>"What each method would do now"</h2>
        <Predictions predictions />
        <p class="hint" id="request-types">
            <strong>"A standard request"</strong> " temporarily disables (stage 1), waits out the grace period, then backs up \
            and removes (stage 2): reversible until stage 2. "
            <strong>"An immediate disconnect"</strong> " also renames the SIP address and revokes the certificates in stage 1: \
            signed-in sessions end at once, and the revocation cannot be undone. "
            <strong>"Finish removal"</strong> " is for a user someone disabled in Lync outside deprov: stage 2 alone, \
            backup first."
        </p>

        <div class="columns">
            <section class="card">
                <h2>"Active Directory"</h2>
                <dl>
                    <dt>"sAMAccountName"</dt><dd>{ad.sam_account_name}</dd>
                    <dt>"UPN"</dt><dd>{ad.user_principal_name}</dd>
                    <dt>"Employee ID"</dt><dd>{ad.employee_id.unwrap_or_else(|| "none in AD".to_owned())}</dd>
                    <dt>"Distinguished name"</dt><dd class="mono">{ad.distinguished_name}</dd>
                    <dt>"Account"</dt>
                    <dd>{match ad.disabled_since {
                        Some(since) => format!("disabled since {}", when(since)),
                        None if ad.account_disabled => "disabled".to_owned(),
                        None => "enabled".to_owned(),
                    }}</dd>
                    <dt>"Protected groups"</dt>
                    <dd>{if protected { ad.protected_groups.join(", ") } else { "none".to_owned() }}</dd>
                    <dt>"Last changed"</dt><dd><Moment at=ad.when_changed /></dd>
                </dl>
            </section>
            <section class="card">
                <h2>"Lync"</h2>
                {match lync.clone() {
                    None => view! { <p>"Not enabled for Lync (Enabled = Null): no SIP address, policies, contacts or conferences."</p> }.into_any(),
                    Some(lync) => view! {
                        <dl>
                            <dt>"SIP address"</dt><dd id="sip-address">{lync.sip_address.to_string()}</dd>
                            <dt>"Enabled"</dt>
                            <dd>{format!("{} (since {})", if lync.enabled { "True" } else { "False" }, when(lync.enabled_changed))}</dd>
                            <dt>"Registrar pool"</dt><dd>{lync.registrar_pool.clone().unwrap_or_else(|| "— (homed online)".to_owned())}</dd>
                            <dt>"Hosting provider"</dt><dd>{lync.hosting_provider.clone()}</dd>
                            <dt>"Enterprise Voice"</dt>
                            <dd>{if lync.enterprise_voice_enabled { lync.line_uri.clone().unwrap_or_else(|| "enabled".into()) } else { "not enabled".into() }}</dd>
                            <dt>"Contacts"</dt><dd>{known(lync.contact_count.map(|n| n.to_string()))}</dd>
                            <dt>"Scheduled conferences"</dt><dd>{known(lync.conference_count.map(|n| n.to_string()))}</dd>
                            <dt>"Policies"</dt>
                            <dd>{known(lync.policies.map(|policies| if policies.is_empty() { "global defaults only".to_owned() } else {
                                policies.iter().map(|p| format!("{}: {}", p.kind, p.name)).collect::<Vec<_>>().join(", ")
                            }))}</dd>
                        </dl>
                    }.into_any(),
                }}
            </section>
        </div>

        <section class="card">
            <h2>"Client certificates"</h2>
            <Certificates certificates=lync.map_or(Fact::Known(Vec::new()), |l| l.certificates) as_of />
        </section>
        <section class="card">
            <h2>"Signed-in sessions"</h2>
            <Sessions sessions as_of />
        </section>
    }
}

#[component]
fn Predictions(predictions: Vec<MethodPrediction>) -> impl IntoView {
    let cell = |outcome: Outcome| {
        let class = match outcome.tone {
            Tone::Good => "good",
            Tone::Caution => "caution",
            Tone::Bad => "bad",
        };
        view! { <td class=class>{outcome.text}</td> }
    };
    view! {
        <table class="methods" id="methods">
            <thead>
                <tr><th>"Method"</th><th>"Signed-in sessions"</th><th>"New sign-in"</th><th>"Data"</th><th>"Undo"</th></tr>
            </thead>
            <tbody>
                {predictions.into_iter().map(|p| view! {
                    <tr class:refused=p.refused.is_some() data-method=format!("{:?}", p.method)>
                        <th scope="row">
                            {p.method.label()}
                            <div class="verdict">{p.method.verdict()}</div>
                            {p.command.map(|c| view! { <code class="cmdlet">{c}</code> })}
                            {p.refused.clone().map(|r| view! { <div class="refused">{r}</div> })}
                            {(!p.timeline.is_empty()).then(|| view! {
                                <ul class="timeline">{p.timeline.into_iter().map(|t| view! {
                                    <li><Moment at=t.at /> " " {t.what}</li>
                                }).collect_view()}</ul>
                            })}
                        </th>
                        {cell(p.signed_in_sessions)}
                        {cell(p.new_sign_in)}
                        {cell(p.data)}
                        {cell(p.reversible)}
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// A value only the Lync server knows, or the sentence that says nobody here does.
fn known(fact: Fact<String>) -> String {
    fact.into_known()
        .unwrap_or_else(|| NOT_KNOWN_WITHOUT_SHELL.to_owned())
}

#[component]
fn Certificates(
    certificates: Fact<Vec<ClientCertificate>>,
    as_of: OffsetDateTime,
) -> impl IntoView {
    let Fact::Known(certificates) = certificates else {
        return view! {
            <p id="certificates-unknown" class="caution">
                "Not known without the Lync shell (Get-CsClientCertificate): a saved-password certificate \
                 would let the client sign in for up to 180 days with no AD check."
            </p>
        }
        .into_any();
    };
    if certificates.is_empty() {
        return view! { <p>"None: this user never saved a password in the Lync client."</p> }
            .into_any();
    }
    view! {
        <table>
            <thead><tr><th>"Serial"</th><th>"Issued"</th><th>"Expires"</th><th>"Sign-in"</th></tr></thead>
            <tbody>
                {certificates.into_iter().map(|c| {
                    let state = match c.revoked_from {
                        Some(from) if from <= as_of => format!("revoked since {}", when(from)),
                        Some(from) => format!("revoked, effective {}", when(from)),
                        None if c.expires <= as_of => "expired".to_owned(),
                        None => "allows sign-in without AD".to_owned(),
                    };
                    let class = if c.allows_sign_in(as_of) { "bad" } else { "good" };
                    view! {
                        <tr>
                            <td class="mono">{c.serial_number}</td>
                            <td><Moment at=c.issued /></td>
                            <td><Moment at=c.expires /></td>
                            <td class=class>{state}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn Sessions(sessions: Fact<Vec<Endpoint>>, as_of: OffsetDateTime) -> impl IntoView {
    let Fact::Known(sessions) = sessions else {
        return view! {
            <p id="sessions-unknown" class="caution">
                "Not known without the Lync shell: only the Lync server knows who is signed in."
            </p>
        }
        .into_any();
    };
    if sessions.is_empty() {
        return view! { <p id="sessions-none">"Not signed in anywhere."</p> }.into_any();
    }
    view! {
        <table id="sessions">
            <thead><tr><th>"Client"</th><th>"Signed in with"</th><th>"Since"</th><th>"What works"</th></tr></thead>
            <tbody>
                {sessions.into_iter().map(|e| {
                    let works = match (e.features_blocked_from, e.disconnect_at) {
                        (_, Some(at)) => format!("no new IM or calls; disconnected at {}", when(at)),
                        (Some(from), None) if from <= as_of => format!("appears signed in, but IM and meetings fail since {}", when(from)),
                        (Some(from), None) => format!("IM, presence and meetings until {}", when(from)),
                        (None, None) => "everything: IM, presence, meetings, calls".to_owned(),
                    };
                    let class = if e.features_work(as_of) { "bad" } else { "caution" };
                    let with = match e.signed_in_with {
                        SignInMethod::Windows => "Windows (Kerberos/NTLM)",
                        SignInMethod::ClientCertificate => "client certificate (no AD check)",
                    };
                    view! {
                        <tr><td>{e.device}</td><td>{with}</td><td><Moment at=e.signed_in_at /></td><td class=class>{works}</td></tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
