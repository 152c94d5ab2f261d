//! Finding Postgres's programs, and the user to run them as.

use std::ffi::CString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// The programs of one Postgres installation.
#[derive(Clone, Debug)]
pub(crate) struct Binaries {
    pub(crate) initdb: PathBuf,
    pub(crate) postgres: PathBuf,
    /// Whom to run them as: `Some((uid, gid))` of the `postgres` user when this process is
    /// root (Postgres refuses to run as root), `None` to run them as this process's user.
    pub(crate) run_as: Option<(u32, u32)>,
}

impl Binaries {
    /// The installation, or `None` after printing why the Postgres tests are skipped; panics
    /// instead under `CI=true`.
    pub(crate) fn find_or_skip() -> Option<Binaries> {
        match Self::find() {
            Ok(binaries) => Some(binaries),
            Err(why) if ci() => panic!(
                "Postgres tests cannot run: {why}. CI must run them: install Debian's postgresql package (apt-get install postgresql)"
            ),
            Err(why) => {
                static SAID: Once = Once::new();
                SAID.call_once(|| {
                    // Straight to the process's stderr: the test harness captures eprintln!, and a
                    // skip nobody sees is a silent pass.
                    let _ = writeln!(std::io::stderr(), "\nSKIPPED: Postgres tests ({why}: install Debian's postgresql package)\n");
                });
                None
            }
        }
    }

    fn find() -> Result<Binaries, String> {
        let dir = bindir().ok_or_else(|| "no initdb found".to_string())?;
        let run_as = if is_root() { Some(postgres_user()?) } else { None };
        Ok(Binaries { initdb: dir.join("initdb"), postgres: dir.join("postgres"), run_as })
    }
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn has_programs(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// The directory of `initdb` and `postgres`: `SWITCHYARD_PG_BINDIR`, Debian's
/// `/usr/lib/postgresql/<newest>/bin`, `pg_config --bindir`, or the first on `PATH`.
fn bindir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SWITCHYARD_PG_BINDIR") {
        return Some(PathBuf::from(dir)).filter(|d| has_programs(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_programs(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_programs(&dir) {
            return Some(dir);
        }
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| has_programs(d))
}

/// The uid and gid of the `postgres` system user (Debian's package creates it).
fn postgres_user() -> Result<(u32, u32), String> {
    let name = CString::new("postgres").map_err(|e| e.to_string())?;
    // SAFETY: passwd is a C struct of integers and pointers, for which all zeroes is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `pwd` and `buf` outlive it, `buf.len()` is its
    // size, and getpwnam_r writes only into them (the reentrant variant, safe with other threads).
    let rc = unsafe { libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return Err("running as root, and there is no `postgres` user to run Postgres as".into());
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}
