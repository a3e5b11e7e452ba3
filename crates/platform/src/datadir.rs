//! The data directory: where the host keeps its database, the user token, its lock and the
//! note saying where it listens. Hosts (tray app, `baton daemon`) and clients (CLI, MCP) find
//! each other only through it.
//!
//! ```text
//! <data dir>/            $BATON_DATA_DIR, or the platform's data dir + "/baton" (0700)
//!   baton.db             SQLite history (+ -wal, -shm)
//!   token                the user token (0600)
//!   host.lock            locked by the one host serving this directory
//!   host.json            {"url": "http://127.0.0.1:PORT", "socket": ..., "pid": N, ...}
//!                        while a host runs
//!   baton.sock           the API for this user's own clients (Unix): only the owner of the
//!                        directory can reach it, so credentials sent there reach the host
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use baton_core::Timestamp;
use baton_core::auth::random_secret;

/// The environment variable that overrides the data directory.
pub const DATA_DIR_ENV: &str = "BATON_DATA_DIR";

/// Where a running host listens, written by the host into `host.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Base URL of the local API, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The API's socket inside the data directory, where this user's clients send their
    /// credentials: a TCP port can be taken by anyone once the host is gone, this path only by
    /// the directory's owner. Absent where the host has none (older hosts, other platforms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// The host's process id.
    pub pid: u32,
    /// Which program hosts.
    pub kind: HostKind,
    /// The host's version.
    pub version: String,
    /// When it started.
    pub started_at: Timestamp,
}

/// The program that hosts a data directory, as `host.json` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    /// `baton daemon`, the headless host.
    Daemon,
    /// `baton-tray`, the tray app.
    Tray,
}

/// Proof that this process is the one host of a data directory. Dropping it (or dying) lets go.
#[derive(Debug)]
pub struct HostLock {
    _file: File,
}

/// A data directory. See the module docs for its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// `$BATON_DATA_DIR`, or the platform's data directory (`~/.local/share/baton` on Linux).
    pub fn resolve() -> Result<Self> {
        if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
            return Ok(DataDir::at(dir));
        }
        let base = dirs::data_dir().ok_or_else(|| {
            Error::DataDir(format!(
                "cannot tell where this platform keeps application data; set {DATA_DIR_ENV}"
            ))
        })?;
        Ok(DataDir::at(base.join("baton")))
    }

    /// A data directory at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        DataDir { path: path.into() }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite history.
    pub fn db_path(&self) -> PathBuf {
        self.path.join("baton.db")
    }

    /// The user token file.
    pub fn token_path(&self) -> PathBuf {
        self.path.join("token")
    }

    /// Refuses a directory that is not this user's alone: one another user owns, or can write
    /// to, could have its token read or its files (the database, the socket, the host note)
    /// replaced. The sentence says how to fix it.
    #[cfg(unix)]
    pub fn check_private(&self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let shown = self.path.display();
        let meta = fs::metadata(&self.path)
            .map_err(|e| Error::io(format!("cannot look at the data directory {shown}"), e))?;
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != me {
            return Err(Error::DataDir(format!(
                "Baton's data directory {shown} belongs to another user (uid {}), who could read its token or replace its files; use a directory of your own (--data-dir or {DATA_DIR_ENV}), or take it over with: chown {me} {shown}",
                meta.uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(Error::DataDir(format!(
                "Baton's data directory {shown} can be written by other users (mode {:o}), who could replace its files; make it yours alone with: chmod 700 {shown}",
                meta.mode() & 0o777
            )));
        }
        Ok(())
    }

    /// Elsewhere the directory's access is the platform's default for the user's data.
    #[cfg(not(unix))]
    pub fn check_private(&self) -> Result<()> {
        Ok(())
    }

    /// The API's socket for this user's clients.
    pub fn socket_path(&self) -> PathBuf {
        self.path.join("baton.sock")
    }

    /// The host note.
    pub fn host_path(&self) -> PathBuf {
        self.path.join("host.json")
    }

    /// Creates the directory (0700) if it is missing.
    pub fn create(&self) -> Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.path).map_err(|e| {
            Error::io(
                format!("cannot create the data directory {}", self.path.display()),
                e,
            )
        })?;
        // Windows: the user's alone, and so is every file created in it from now on.
        #[cfg(windows)]
        crate::acl_windows::restrict(&self.path).map_err(|e| {
            Error::io(
                format!(
                    "cannot make the data directory {} owner-only",
                    self.path.display()
                ),
                e,
            )
        })?;
        Ok(())
    }

    /// Takes the host lock, or says which host already holds it.
    pub fn lock(&self) -> Result<HostLock> {
        let path = self.path.join("host.lock");
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => Ok(HostLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(Error::HostRunning {
                dir: self.path.display().to_string(),
                url: self.host_info().ok().flatten().map(|h| h.url),
            }),
            Err(fs::TryLockError::Error(e)) => {
                Err(Error::io(format!("cannot lock {}", path.display()), e))
            }
        }
    }

    /// Whether a host holds this directory's lock now. Where clients reach the host over TCP
    /// (Windows), a host note alone is no proof: a crashed host's port can be taken by any
    /// program, but the lock of a live host only by that host.
    pub fn host_alive(&self) -> bool {
        let Ok(file) = OpenOptions::new()
            .write(true)
            .open(self.path.join("host.lock"))
        else {
            return false;
        };
        matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock))
    }

    /// The user token, created (0600) on first use.
    pub fn ensure_user_token(&self) -> Result<String> {
        match self.user_token() {
            Ok(token) => Ok(token),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                self.regenerate_user_token()
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the user token. Tightens the file to 0600 if someone loosened it.
    pub fn user_token(&self) -> Result<String> {
        let path = self.token_path();
        let text = fs::read_to_string(&path).map_err(|e| {
            Error::io(
                format!("cannot read the user token at {}", path.display()),
                e,
            )
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = fs::metadata(&path)
                && meta.permissions().mode() & 0o077 != 0
            {
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
            }
        }
        let token = text.trim().to_string();
        if token.is_empty() {
            return Err(Error::DataDir(format!(
                "the user token file {} is empty; delete it and Baton writes a new one",
                path.display()
            )));
        }
        Ok(token)
    }

    /// Writes a new random user token (0600), replacing the old one.
    pub fn regenerate_user_token(&self) -> Result<String> {
        let token = random_secret();
        write_private(&self.token_path(), format!("{token}\n").as_bytes())?;
        Ok(token)
    }

    /// Announces where the host listens.
    pub fn write_host_info(&self, info: &HostInfo) -> Result<()> {
        // A note that does not serialize is Baton's own failure, not the directory's.
        let text = serde_json::to_vec_pretty(info)
            .map_err(|e| Error::io("cannot write the host note", std::io::Error::other(e)))?;
        write_private(&self.host_path(), &text)
    }

    /// Where the host listens, if a host has said so.
    pub fn host_info(&self) -> Result<Option<HostInfo>> {
        let path = self.host_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::DataDir(format!("{} is not a valid host note: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
        }
    }

    /// Removes the host note (on clean shutdown).
    pub fn remove_host_info(&self) {
        let _ = fs::remove_file(self.host_path());
    }
}

/// Writes a file readable only by its owner, atomically (temporary file + rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = OpenOptions::new();
    options.create(true).truncate(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&tmp)?;
        // Windows: owner-only before a byte is in it (Unix: the mode above).
        #[cfg(windows)]
        crate::acl_windows::restrict(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        replace(&tmp, path)
    };
    write().map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// Puts `tmp` in the place of `path`. Windows refuses to replace a file another process has
/// open at that moment (a client reading the host note, an indexer, a virus scanner): a few
/// tries over half a second, rather than a host that fails to start.
fn replace(tmp: &Path, path: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match fs::rename(tmp, path) {
            Err(e)
                if cfg!(windows)
                    && e.kind() == std::io::ErrorKind::PermissionDenied
                    && tries < 20 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_host_note() -> HostInfo {
        HostInfo {
            url: "http://127.0.0.1:4242".into(),
            socket: None,
            pid: 1,
            kind: HostKind::Daemon,
            version: "0".into(),
            started_at: Timestamp(0),
        }
    }

    /// On Windows the protected DACL names this user alone. Wine (`make test-windows`, which
    /// sets BATON_TEST_WINE) keeps no DACLs: it turns one into Unix mode bits and reads them
    /// back as the owner plus SYSTEM, and applies no inheritance; there the test checks that
    /// nobody else, and no group such as Everyone or Users, is granted anything.
    #[cfg(windows)]
    #[test]
    fn the_directory_and_the_token_are_the_users_alone() {
        use crate::acl_windows::{granted, user_sid};
        const SYSTEM: &str = "S-1-5-18";
        let wine = std::env::var_os("BATON_TEST_WINE").is_some();
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::at(tmp.path().join("data"));
        dir.create().expect("create");
        dir.ensure_user_token().expect("token");
        dir.write_host_info(&a_host_note()).expect("host info");
        let me = user_sid().expect("this user's SID");
        assert!(me.starts_with("S-1-5-"), "{me}");
        let users_alone = |path: &Path| {
            let sids = granted(path).expect("a DACL");
            let ok = if wine {
                sids.contains(&me) && sids.iter().all(|s| *s == me || s == SYSTEM)
            } else {
                sids == std::slice::from_ref(&me)
            };
            assert!(ok, "{} grants {sids:?}, not only {me}", path.display());
        };
        users_alone(dir.path());
        users_alone(&dir.token_path());
        users_alone(&dir.host_path());
        // What the host creates later inherits the directory's entry (Wine does no
        // inheritance).
        if !wine {
            let later = dir.path().join("later");
            fs::write(&later, b"x").expect("a later file");
            users_alone(&later);
        }
        // And the check can fail: a file that was never restricted grants more.
        let open = tmp.path().join("open");
        fs::write(&open, b"x").expect("an ordinary file");
        assert_ne!(granted(&open).expect("a DACL"), std::slice::from_ref(&me));
    }

    #[test]
    fn user_token_is_created_private_and_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::at(tmp.path().join("d"));
        dir.create().expect("create");
        let first = dir.ensure_user_token().expect("token");
        assert_eq!(first.len(), 64);
        assert_eq!(dir.ensure_user_token().expect("again"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.token_path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_ne!(dir.regenerate_user_token().expect("regen"), first);
    }

    #[test]
    fn a_second_lock_names_the_running_host() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::at(tmp.path());
        let lock = dir.lock().expect("first lock");
        dir.write_host_info(&a_host_note()).expect("host info");
        let err = dir.lock().expect_err("second lock must fail");
        assert_eq!(err.code(), baton_core::ErrorCode::HostRunning);
        assert!(err.to_string().contains("http://127.0.0.1:4242"), "{err}");
        assert!(dir.host_alive(), "a held lock is a live host");
        drop(lock);
        assert!(!dir.host_alive(), "a host note without the lock is no host");
    }
}
