//! The audit key: 32 random bytes in a file outside the database (by default `audit.key` in the
//! data folder, mode 600). Rows are chained with HMAC-SHA256 under it, so someone who can write
//! the database but not read the key cannot edit a row and re-hash the rows after it.

use crate::store::StoreError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The key file's name in the data folder, unless `--audit-key-file` names another.
pub const KEY_FILE: &str = "audit.key";

const KEY_LEN: usize = 32;

/// The loaded key, ready to chain rows. Deliberately neither `Debug` nor `Display`: it never
/// reaches a log.
#[derive(Clone)]
pub struct AuditKey {
    mac: Hmac<Sha256>,
}

/// How many rows of the log each scheme chained, read before the key is loaded.
#[derive(Debug, Clone, Copy)]
pub struct Schemes {
    pub unkeyed: i64,
    pub keyed: i64,
}

/// Whether the key was there already or made just now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Existing,
    Created,
}

impl AuditKey {
    fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, StoreError> {
        if bytes.len() != KEY_LEN {
            return Err(key_error(
                path,
                format!(
                    "it holds {} bytes, not {KEY_LEN}: it is not a deprov audit key (restore the right one from a backup)",
                    bytes.len()
                ),
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(bytes)
            .map_err(|e| key_error(path, format!("it cannot key HMAC-SHA256: {e}")))?;
        Ok(Self { mac })
    }

    /// HMAC-SHA256 of the length-prefixed `fields`, in hex.
    pub(crate) fn hash(&self, fields: &[&str]) -> String {
        let mut mac = self.mac.clone();
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        format!("{:x}", mac.finalize().into_bytes())
    }

    /// Reads the key at `path`, or creates it when there is none and nothing in the log needs
    /// it. Never makes a new key for a log that already has keyed rows: every one of them would
    /// then fail verification.
    pub fn load_or_create(path: &Path, log: Schemes) -> Result<(Self, Origin), StoreError> {
        match File::open(path) {
            Ok(file) => {
                let key = read(file, path)?;
                if log.keyed == 0 && log.unkeyed > 0 {
                    // deprov writes a keyed row the moment it creates a key for an older log.
                    return Err(key_error(
                        path,
                        format!(
                            "the key exists, but none of the audit log's {} rows is chained with it: the rows \
                             were re-hashed without the key (tampering), or deprov stopped between creating the \
                             key and its first row. Run `deprov audit verify`; only in the second case, move \
                             the key file away and start again",
                            log.unkeyed
                        ),
                    ));
                }
                Ok((key, Origin::Existing))
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {
                if log.keyed > 0 {
                    return Err(key_error(
                        path,
                        format!(
                            "it is missing, but {} rows of the audit log are chained with it: restore it from \
                             a backup (a new key would make every one of them fail verification)",
                            log.keyed
                        ),
                    ));
                }
                create(path)
            }
            Err(error) => Err(key_error(path, format!("cannot open it: {error}"))),
        }
    }
}

fn key_error(path: &Path, why: String) -> StoreError {
    StoreError::AuditKey(format!("{}: {why}", path.display()))
}

fn read(file: File, path: &Path) -> Result<AuditKey, StoreError> {
    let mode = file
        .metadata()
        .map_err(|e| key_error(path, format!("cannot read its permissions: {e}")))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(key_error(
            path,
            format!(
                "group or others may access it (mode {:o}): whoever reads it can forge the audit log. \
                 Run `chmod 600 {}` as the account deprov runs as",
                mode & 0o777,
                path.display()
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(KEY_LEN);
    // One byte over the key's length is enough to tell a wrong file from the key.
    file.take(KEY_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| key_error(path, format!("cannot read it: {e}")))?;
    AuditKey::from_bytes(&bytes, path)
}

/// Writes a new key to a private file beside `path`, then links it into place: the link fails
/// if another process made the key meanwhile (its key wins), and nobody ever reads half a key.
fn create(path: &Path) -> Result<(AuditKey, Origin), StoreError> {
    let mut bytes = [0u8; KEY_LEN];
    getrandom::fill(&mut bytes)
        .map_err(|e| key_error(path, format!("no randomness for a new key: {e}")))?;
    let draft = path.with_extension(format!("new-{}", std::process::id()));
    if let Err(error) = write_private(&draft, &bytes) {
        std::fs::remove_file(&draft).ok();
        return Err(key_error(path, format!("cannot create it: {error}")));
    }
    let linked = std::fs::hard_link(&draft, path);
    std::fs::remove_file(&draft).ok();
    match linked {
        Ok(()) => {
            // The new name must survive a crash as the rows chained with it will.
            if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(folder)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| key_error(path, format!("cannot sync its folder: {e}")))?;
            }
            Ok((AuditKey::from_bytes(&bytes, path)?, Origin::Created))
        }
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {
            let file =
                File::open(path).map_err(|e| key_error(path, format!("cannot open it: {e}")))?;
            Ok((read(file, path)?, Origin::Existing))
        }
        Err(error) => Err(key_error(path, format!("cannot create it: {error}"))),
    }
}

/// Creates `path` readable by its owner only, with `bytes`, on disk before it returns.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: Schemes = Schemes {
        unkeyed: 0,
        keyed: 0,
    };

    #[test]
    fn a_new_key_is_private_and_read_back_the_same() {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().join(KEY_FILE);
        let (created, origin) = AuditKey::load_or_create(&path, EMPTY).unwrap();
        assert_eq!(origin, Origin::Created);
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        assert_eq!(metadata.len(), KEY_LEN as u64);
        let keyed = Schemes {
            unkeyed: 0,
            keyed: 3,
        };
        let (again, origin) = AuditKey::load_or_create(&path, keyed).unwrap();
        assert_eq!(origin, Origin::Existing);
        assert_eq!(created.hash(&["row"]), again.hash(&["row"]));
        // Nothing but the key file is left behind.
        assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().join(KEY_FILE);
        AuditKey::load_or_create(&path, EMPTY).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let Err(refused) = AuditKey::load_or_create(&path, EMPTY) else {
            panic!("a group-readable key is used");
        };
        assert!(refused.to_string().contains("chmod 600"), "{refused}");
    }

    #[test]
    fn a_file_of_the_wrong_length_is_no_key() {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().join(KEY_FILE);
        std::fs::write(&path, b"too short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let Err(refused) = AuditKey::load_or_create(&path, EMPTY) else {
            panic!("a 9-byte file is used as the key");
        };
        assert!(refused.to_string().contains("9 bytes"), "{refused}");
    }

    #[test]
    fn a_missing_key_is_not_replaced_when_rows_need_it() {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().join(KEY_FILE);
        let keyed = Schemes {
            unkeyed: 2,
            keyed: 5,
        };
        let Err(refused) = AuditKey::load_or_create(&path, keyed) else {
            panic!("a new key is made for a keyed log");
        };
        assert!(refused.to_string().contains("restore it"), "{refused}");
        assert!(!path.exists());
    }
}
