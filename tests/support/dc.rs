//! A real Active Directory for the tests: a copy of the Samba DC template `scripts/samba-dc.sh`
//! provisions (300 generated users, seed 7, plus the people in [`people`]), started on a
//! loopback address of its own and stopped by PID when dropped. Where a DC cannot run here, the
//! tests that need one say why and skip; they never pass silently.

use deprov_server::backend::ldap::settings::{LdapArgs, SignInArgs};
use deprov_server::config::{Backend, ServeConfig};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// The generated directory the template holds (`scripts/samba-dc.sh template 300 7`).
pub const USERS: usize = 300;
pub const SEED: u64 = 7;
pub const BASE_DN: &str = "DC=contoso,DC=com";
/// The lab domain's throw-away secrets (the script sets them).
pub const ADMIN: &str = "Administrator@contoso.com";
pub const ADMIN_PASSWORD: &str = "Adm1n-Passw0rd!";
pub const SERVICE_ACCOUNT: &str = "svc-deprov@contoso.com";
pub const SERVICE_PASSWORD: &str = "Svc-deprov-Passw0rd1";
pub const PEOPLE_PASSWORD: &str = "Correct-Horse-42";
/// Where the sign-in test people and their groups live.
pub const PEOPLE_OU: &str = "OU=deprov test people,DC=contoso,DC=com";

/// The sign-in test people: `(sAMAccountName, what the test expects of them)`.
pub mod people {
    /// An approver through a nested group.
    pub const APPROVER: &str = "ada.approver";
    pub const ADMIN: &str = "adam.admin";
    pub const REQUESTER: &str = "mia.manager";
    /// In no group mapped to a role.
    pub const NO_ROLE: &str = "nina.norole";
    /// Disabled in AD (and in the approvers' inner group).
    pub const DISABLED: &str = "dora.disabled";
    /// For the lock-out case (three wrong passwords lock an account in the lab domain).
    pub const TO_LOCK: &str = "lou.locked";
}

/// The generated users the tests' DC was loaded with.
pub fn loaded() -> Vec<deprov_wire::directory::DirectoryUser> {
    deprov_server::backend::sim::generate::directory(USERS, SEED, time::OffsetDateTime::now_utc())
}

/// The `skip`th loaded user that fits `wanted` among the ordinary staff: in `OU=Users`, not
/// protected, a Lync user homed on-premises.
pub fn pick(
    wanted: impl Fn(&deprov_wire::directory::DirectoryUser) -> bool,
    skip: usize,
) -> deprov_wire::directory::DirectoryUser {
    loaded()
        .into_iter()
        .filter(|u| {
            u.ad.distinguished_name.contains("OU=Users")
                && !u.protected()
                && u.lync.as_ref().is_some_and(|l| !l.homed_online())
                && wanted(u)
        })
        .nth(skip)
        .expect("the generated directory has such a user")
}

/// The `--role-group` mappings of the lab domain.
pub fn role_groups() -> Vec<String> {
    vec![
        format!("approver=CN=deprov approvers,{PEOPLE_OU}"),
        format!("admin=CN=deprov admins,{PEOPLE_OU}"),
        format!("requester=CN=deprov requesters,{PEOPLE_OU}"),
    ]
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script() -> PathBuf {
    repository().join("scripts/samba-dc.sh")
}

/// The provisioned template of `users` generated users, or why there is none. `scripts/test.sh`
/// provisions the tests' one (and says where in `DEPROV_TEST_DC_TEMPLATE`); otherwise, and for
/// the benchmarks' bigger ones, it is provisioned here (cached: minutes the first time).
fn template(users: usize, seed: u64) -> Result<PathBuf, String> {
    type Provisioned = ((usize, u64), Result<PathBuf, String>);
    static TEMPLATES: Mutex<Vec<Provisioned>> = Mutex::new(Vec::new());
    let mut templates = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, known)) = templates.iter().find(|(key, _)| *key == (users, seed)) {
        return known.clone();
    }
    let made = provision(users, seed);
    templates.push(((users, seed), made.clone()));
    made
}

fn provision(users: usize, seed: u64) -> Result<PathBuf, String> {
    if let Ok(why) = std::env::var("DEPROV_TEST_DC_UNAVAILABLE") {
        return Err(why);
    }
    if (users, seed) == (USERS, SEED)
        && let Ok(dir) = std::env::var("DEPROV_TEST_DC_TEMPLATE")
    {
        return Ok(PathBuf::from(dir));
    }
    let output = Command::new("bash")
        .arg(script())
        .args(["template", &users.to_string(), &seed.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run scripts/samba-dc.sh: {e}"))?;
    if !output.status.success() {
        return Err("scripts/samba-dc.sh template failed (its error is above)".to_owned());
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// Loopback addresses handed out in this process; each is checked to be free first.
static NEXT_ADDRESS: AtomicU8 = AtomicU8::new(20);

fn free_address() -> Ipv4Addr {
    loop {
        let n = NEXT_ADDRESS.fetch_add(1, Ordering::SeqCst);
        assert!(n < 250, "ran out of loopback addresses for test DCs");
        let ip = Ipv4Addr::new(127, 0, 0, n);
        let taken = TcpStream::connect_timeout(
            &SocketAddrV4::new(ip, 636).into(),
            Duration::from_millis(200),
        )
        .is_ok();
        if !taken {
            return ip;
        }
    }
}

/// A running Samba AD DC of the tests' own.
pub struct TestDc {
    dir: tempfile::TempDir,
    pub ip: Ipv4Addr,
    /// The generated directory it was loaded with.
    users: usize,
    seed: u64,
}

impl TestDc {
    /// A fresh copy of the tests' template, started; `None` (after printing why) where no DC
    /// can run.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(USERS, SEED, test)
    }

    /// As [`start`](Self::start), with `users` generated users from `seed`.
    pub fn start_with(users: usize, seed: u64, test: &str) -> Option<Self> {
        let template = match template(users, seed) {
            Ok(template) => template,
            Err(why) => {
                eprintln!("SKIPPED {test}: no Samba AD DC can run here: {why}");
                return None;
            }
        };
        let dir = tempfile::tempdir().expect("a folder for the DC");
        let copied = Command::new("cp")
            .args(["-a", &format!("{}/.", template.display())])
            .arg(dir.path())
            .status()
            .expect("cp runs");
        assert!(copied.success(), "copying the DC template failed");
        let dc = Self {
            dir,
            ip: free_address(),
            users,
            seed,
        };
        dc.start_again();
        Some(dc)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("ldaps://{}", self.ip)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir().join("tls/ca.pem")
    }

    /// A CA that signed nothing here.
    pub fn other_ca_file(&self) -> PathBuf {
        self.dir().join("tls/other-ca.pem")
    }

    /// Starts the DC (again, after [`stop`](Self::stop)).
    pub fn start_again(&self) {
        let output = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(self.dir())
            .arg(self.ip.to_string())
            .output()
            .expect("the DC script runs");
        assert!(
            output.status.success(),
            "the DC did not start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Stops the DC by the PID it wrote.
    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir())
            .status();
    }

    /// The `--ldap-*` flags for deprov's service account, with its password in a file.
    pub fn ldap_args(&self) -> LdapArgs {
        let password = self.dir().join("svc-password");
        std::fs::write(&password, format!("{SERVICE_PASSWORD}\n")).unwrap();
        let pools = std::fs::read_to_string(self.dir().join("pools.txt")).unwrap_or_default();
        LdapArgs {
            ldap_url: Some(self.url()),
            ldap_ca_file: Some(self.ca_file()),
            ldap_bind_dn: Some(SERVICE_ACCOUNT.to_owned()),
            ldap_bind_password_file: Some(password),
            ldap_base_dn: Some(BASE_DN.to_owned()),
            ldap_poll_secs: 1,
            ldap_deletions_secs: 1,
            ldap_pools: pools.lines().map(str::to_owned).collect(),
            ldap_page_size: 50,
            ..LdapArgs::default()
        }
    }

    /// `deprov serve --backend lync` on this DC with AD sign-in on, its data in `data`.
    pub fn portal_config(&self, data: &Path) -> ServeConfig {
        let mut config = ServeConfig::for_tests(data.to_path_buf(), super::dist_dir(), 0, 1);
        config.backend = Backend::Lync;
        config.ldap = self.ldap_args();
        config.sign_in = SignInArgs {
            ldap_sign_in: "on".to_owned(),
            role_groups: role_groups(),
        };
        config
    }

    /// `deprov serve` arguments for this DC (`--backend lync` and the `--ldap-*` flags).
    pub fn serve_arguments(&self) -> Vec<String> {
        let args = self.ldap_args();
        let mut arguments: Vec<String> = [
            "--backend",
            "lync",
            "--ldap-url",
            &self.url(),
            "--ldap-bind-dn",
            SERVICE_ACCOUNT,
            "--ldap-base-dn",
            BASE_DN,
            "--ldap-poll-secs",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (flag, path) in [
            ("--ldap-ca-file", self.ca_file()),
            (
                "--ldap-bind-password-file",
                args.ldap_bind_password_file.unwrap(),
            ),
        ] {
            arguments.push(flag.to_owned());
            arguments.push(path.display().to_string());
        }
        for pool in args.ldap_pools {
            arguments.push("--ldap-pool".to_owned());
            arguments.push(pool);
        }
        arguments
    }

    /// The argv of a shell stand-in that applies cmdlets to this DC as its Administrator (Lync's
    /// own service writes the msRTCSIP attributes), keeping what AD cannot hold in `state`.
    pub fn stand_in_argv(&self, state: &Path) -> Vec<String> {
        let password = self.dir().join("admin-password");
        std::fs::write(&password, format!("{ADMIN_PASSWORD}\n")).unwrap();
        let args = self.ldap_args();
        let mut argv = vec![
            super::deprov_binary().display().to_string(),
            "shell-stand-in".to_owned(),
            "--ldap-url".to_owned(),
            self.url(),
            "--ldap-ca-file".to_owned(),
            self.ca_file().display().to_string(),
            "--ldap-bind-dn".to_owned(),
            ADMIN.to_owned(),
            "--ldap-bind-password-file".to_owned(),
            password.display().to_string(),
            "--ldap-base-dn".to_owned(),
            BASE_DN.to_owned(),
            "--state-file".to_owned(),
            state.display().to_string(),
            "--lab-users".to_owned(),
            self.users.to_string(),
            "--lab-seed".to_owned(),
            self.seed.to_string(),
        ];
        for pool in args.ldap_pools {
            argv.push("--ldap-pool".to_owned());
            argv.push(pool);
        }
        argv
    }

    /// The argv of `tests/fixtures/faulty-worker.py` around this DC's stand-in: it misbehaves as
    /// `fault` says the first time `Set-CsUser` comes (once across restarts and processes), and
    /// logs every request to `folder/requests.log`; `options` go to it first (`--seconds 12`).
    pub fn faulty_worker_argv(&self, fault: &str, folder: &Path, options: &[&str]) -> Vec<String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/faulty-worker.py");
        let mut argv: Vec<String> = ["python3", &script.display().to_string(), "--fault", fault]
            .iter()
            .chain(&["--cmdlet", "Set-CsUser"])
            .chain(options)
            .map(|s| s.to_string())
            .collect();
        for (flag, file) in [("--log", "requests.log"), ("--spent", "spent")] {
            argv.push(flag.to_owned());
            argv.push(folder.join(file).display().to_string());
        }
        argv.push("--".to_owned());
        argv.extend(self.stand_in_argv(&folder.join("state.json")));
        argv
    }

    /// As [`portal_config`](Self::portal_config), with `worker` as the Lync shell (the argv of
    /// one worker) and a short per-call deadline.
    pub fn portal_config_with_shell(&self, data: &Path, worker: &[String]) -> ServeConfig {
        let mut config = self.portal_config(data);
        config.shell.lync_shell = Some(serde_json::to_string(worker).unwrap());
        config.shell.lync_shell_start_secs = 10;
        config.step_timeout_secs = 4;
        config
    }

    /// Applies an LDIF change as the domain's Administrator, with `ldapmodify` as an AD admin
    /// would.
    pub fn ldapmodify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &self.url(), "-D", ADMIN, "-w", ADMIN_PASSWORD])
            .env("LDAPTLS_CACERT", self.ca_file())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("ldapmodify (ldap-utils) is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "ldapmodify failed: {}\n{ldif}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A simple bind as `name`, as a client would try it (to lock an account by wrong passwords).
    pub fn bind(&self, name: &str, password: &str) -> bool {
        Command::new("ldapwhoami")
            .args(["-x", "-H", &self.url(), "-D", name, "-w", password])
            .env("LDAPTLS_CACERT", self.ca_file())
            .output()
            .map(|o| !String::from_utf8_lossy(&o.stderr).contains("Invalid credentials"))
            .unwrap_or(false)
    }
}

impl Drop for TestDc {
    fn drop(&mut self) {
        self.stop();
    }
}
