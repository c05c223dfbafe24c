//! How long Lync takes to act on each cmdlet (DOMAIN.md, "What each method does"). The simulator
//! reproduces these delays and the predictions quote them, so the two cannot disagree.

use time::Duration;

/// After `Set-CsUser -Enabled $false`, presence, IM and conferencing keep working this long in
/// sessions already signed in; then the user appears signed in but every IM or Meet Now fails.
pub const TEMPORARY_DISABLE_GRACE: Duration = Duration::minutes(5);

/// After `Disable-CsUser`, signed-in sessions are disconnected within "a few minutes"
/// (no new IM, conferencing or Enterprise Voice meanwhile). The simulator uses this figure.
pub const REMOVAL_DISCONNECT: Duration = Duration::minutes(3);

/// After `Revoke-CsClientCertificate`, certificate sign-in is blocked after about this long.
pub const REVOCATION_DELAY: Duration = Duration::minutes(3);

/// A Lync client certificate's default validity.
pub const CERTIFICATE_LIFETIME: Duration = Duration::days(180);
