//! The boundary between the deprov server and its WASM front end: every type that crosses the
//! wire, so the two sides can never disagree about a field.
//!
//! - [`directory`]: AD accounts and Lync users as a backend reports them.
//! - [`cmdlet`]: the Lync Management Shell commands the portal runs, as data, and their one rendering.
//! - [`method`]: the de-provisioning methods and what each would do to a user right now.
//! - [`report`]: the mismatch report and its live changes.
//! - [`people`]: roles, sign-in and the audit trail.
//! - [`workflow`]: de-provisioning requests and their approval.
//! - [`execution`]: running approved requests against Lync, stage by stage, and undoing them.
//! - [`api`]: request and response bodies of the JSON API, and its one error shape.

pub mod api;
pub mod cmdlet;
pub mod directory;
pub mod execution;
pub mod method;
pub mod notify;
pub mod people;
pub mod report;
pub mod workflow;

/// Derives `utoipa::ToSchema` only when the server asks for OpenAPI (feature `openapi`).
#[macro_export]
#[doc(hidden)]
macro_rules! schema {
    ($item:item) => {
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        $item
    };
}

/// `text` ended as a sentence: a period added unless it already ends with one (or with ! or ?),
/// so a message that carries its own period is not printed with two.
pub fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sentence_ends_with_one_period() {
        assert_eq!(
            super::sentence("nothing was changed."),
            "nothing was changed."
        );
        assert_eq!(
            super::sentence("nothing was changed"),
            "nothing was changed."
        );
        assert_eq!(super::sentence("really? "), "really?");
    }
}
