//! The embedded demo's people: one account per role (and a second approver and a second admin,
//! since protected accounts need two approvals and giving Lync back after an immediate disconnect
//! needs two admins), created once with random passwords that are kept in the data folder and
//! printed at start-up. Only with `--demo-accounts on`.

use crate::people::accounts::{self, random_password};
use deprov_wire::people::Role;
use std::path::{Path, PathBuf};

pub const ACCOUNTS: [(&str, &[Role]); 6] = [
    ("manager", &[Role::Requester]),
    ("approver", &[Role::Approver]),
    ("approver2", &[Role::Approver]),
    ("admin", &[Role::Admin]),
    ("admin2", &[Role::Admin]),
    ("auditor", &[Role::Auditor]),
];

/// The demo accounts' mail domain (reserved for examples: it reaches no one on the Internet).
pub const DEMO_MAIL_DOMAIN: &str = "deprov.example";

pub fn credentials_file(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-accounts.txt")
}

/// Creates the demo accounts that do not exist yet and records their passwords.
pub async fn seed_accounts(
    store: &crate::store::Store,
    data_dir: &Path,
) -> Result<(), accounts::AccountError> {
    let file = credentials_file(data_dir);
    let mut lines = std::fs::read_to_string(&file).unwrap_or_default();
    for (name, roles) in ACCOUNTS {
        if accounts::exists(store, name).await? {
            continue;
        }
        let password = random_password();
        accounts::add(store, name, roles, &password).await?;
        // Somewhere a local mail catcher (`--smtp-url smtp://127.0.0.1:1025`) takes it.
        accounts::set_email(store, name, Some(&format!("{name}@{DEMO_MAIL_DOMAIN}"))).await?;
        let roles: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
        lines.push_str(&format!("{name} {password} {}\n", roles.join(",")));
    }
    write_private(&file, &lines).map_err(|e| {
        accounts::AccountError::Invalid(format!("cannot write {}: {e}", file.display()))
    })
}

/// Written readable by the owner only: it holds passwords.
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(file)?.write_all(text.as_bytes())
}

/// "name password roles" lines, for the start-up message.
pub fn credentials(data_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(credentials_file(data_dir))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
