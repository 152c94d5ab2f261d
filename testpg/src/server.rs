//! One Postgres server: its directory, `initdb`, and the thread that starts and stops it.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::binaries::Binaries;

/// How long a start may take before the test fails (a cold CI machine, several clusters
/// starting at once).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Settings for speed and for the tests' load: durability off (the data is thrown away), room
/// for the connections of many stores at once, dynamic shared memory in files (a container's
/// /dev/shm is small), and a log of warnings only.
const SETTINGS: &str = "
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 64MB
dynamic_shared_memory_type = mmap
max_wal_size = 1GB
log_min_messages = warning
log_min_error_statement = panic
";

pub(crate) struct Server {
    pub(crate) port: u16,
    pub(crate) data: PathBuf,
    /// The cluster's directory: the data directory, the Unix socket, the log, and whatever else
    /// the cluster's maker keeps there (TLS files).
    pub(crate) dir: PathBuf,
    orders: Option<mpsc::Sender<Order>>,
    supervisor: Option<JoinHandle<()>>,
}

enum Order {
    Start(mpsc::Sender<Result<(), String>>),
    Stop(mpsc::Sender<()>),
}

impl Server {
    /// Makes a cluster in a new directory and starts it. Panics (with the log) if that fails.
    pub(crate) fn create(binaries: Binaries, kind: &str) -> Server {
        Server::create_with(binaries, kind, |_| String::new())
    }

    /// [`Server::create`], calling `setup` after `initdb` and before the first start: it may
    /// write files in the cluster's directory and data directory, and returns settings to add
    /// to `postgresql.conf` (lines, possibly none).
    pub(crate) fn create_with(binaries: Binaries, kind: &str, setup: impl FnOnce(&Setup<'_>) -> String) -> Server {
        remove_stale_dirs();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = crate::base_dir().join(format!("{}-{kind}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        let data = dir.join("data");
        prepare_dir(&dir, binaries.run_as).unwrap_or_else(|e| panic!("test cluster directory {}: {e}", dir.display()));
        initdb(&binaries, &dir, &data);
        let extra = setup(&Setup { dir: &dir, data: &data, run_as: binaries.run_as });
        let port = free_port();
        let conf = format!("{SETTINGS}port = {port}\nunix_socket_directories = '{}'\n{extra}", dir.display());
        OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| io::Write::write_all(&mut f, conf.as_bytes()))
            .unwrap_or_else(|e| panic!("writing the test cluster's settings: {e}"));

        let (commands, received) = mpsc::channel();
        let supervisor = {
            let (binaries, dir, data) = (binaries.clone(), dir.clone(), data.clone());
            std::thread::Builder::new()
                .name(format!("testpg-{kind}"))
                .spawn(move || supervise(binaries, dir, data, port, received))
                .unwrap_or_else(|e| panic!("no thread for the test cluster: {e}"))
        };
        let server = Server { port, data, dir, orders: Some(commands), supervisor: Some(supervisor) };
        server.start();
        server
    }

    /// libpq `key=value` connection settings for a superuser connection to `database` through
    /// the cluster's Unix socket, which `pg_hba.conf` always trusts (TCP may be TLS-only).
    pub(crate) fn socket_conninfo(&self, database: &str) -> String {
        socket_conninfo(&self.dir, self.port, database)
    }

    pub(crate) fn start(&self) {
        let (reply, answer) = mpsc::channel();
        self.send(Order::Start(reply));
        match answer.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the test cluster in {} did not start: {e}", self.dir.display()),
            Err(_) => panic!("the test cluster's supervisor thread is gone"),
        }
    }

    pub(crate) fn stop(&self) {
        let (reply, answer) = mpsc::channel();
        self.send(Order::Stop(reply));
        let _ = answer.recv();
    }

    fn send(&self, command: Order) {
        if let Some(commands) = &self.orders {
            let _ = commands.send(command);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing the channel stops the server and ends the supervisor.
        self.orders.take();
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.join();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The supervisor: the thread every `postgres` process of the cluster is spawned from, which
/// lives as long as the cluster. The process is told to quit when this thread ends
/// (`PR_SET_PDEATHSIG` is about the spawning thread, not the process: a server spawned from a
/// test's thread would die with that test).
fn supervise(binaries: Binaries, dir: PathBuf, data: PathBuf, port: u16, commands: mpsc::Receiver<Order>) {
    let mut child: Option<Child> = None;
    for command in commands.iter() {
        match command {
            Order::Start(reply) => {
                let started = match child.as_mut().map(|c| c.try_wait()) {
                    Some(Ok(None)) => Ok(()), // still running
                    _ => spawn(&binaries, &dir, &data).and_then(|c| {
                        let c = child.insert(c);
                        wait_ready(c, port, &dir)
                    }),
                };
                let _ = reply.send(started);
            }
            Order::Stop(reply) => {
                if let Some(c) = child.take() {
                    shut_down(c);
                }
                let _ = reply.send(());
            }
        }
    }
    if let Some(c) = child.take() {
        shut_down(c);
    }
}

fn spawn(binaries: &Binaries, dir: &Path, data: &Path) -> Result<Child, String> {
    let log = OpenOptions::new().create(true).append(true).open(dir.join("postgres.log")).map_err(|e| format!("its log file: {e}"))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(&binaries.postgres);
    command.arg("-D").arg(data).current_dir(dir).stdin(Stdio::null()).stdout(log).stderr(log2);
    if let Some((uid, gid)) = binaries.run_as {
        command.uid(uid).gid(gid);
    }
    // SAFETY: the closure runs in the child between fork and exec and calls only prctl and
    // getppid, which are async-signal-safe; it allocates nothing.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        command.pre_exec(move || {
            // SIGQUIT is Postgres's immediate shutdown: it ends its backends and exits.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the line above: then nobody would signal us.
            if libc::getppid() != parent {
                return Err(io::Error::other("the test process is gone"));
            }
            Ok(())
        });
    }
    command.spawn().map_err(|e| format!("spawning {}: {e}", binaries.postgres.display()))
}

/// Waits until the server accepts connections, or it exits, or [`START_TIMEOUT`].
fn wait_ready(child: &mut Child, port: u16, dir: &Path) -> Result<(), String> {
    let started = Instant::now();
    let url = format!("{} connect_timeout=2", socket_conninfo(dir, port, "postgres"));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("postgres exited ({status}); its log:\n{}", log_tail(dir)));
        }
        match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(client) => {
                drop(client);
                return Ok(());
            }
            Err(e) if started.elapsed() > START_TIMEOUT => {
                return Err(format!("not accepting connections after {START_TIMEOUT:?} ({e}); its log:\n{}", log_tail(dir)));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A fast shutdown (SIGINT: connections are closed), then a kill if it takes too long.
fn shut_down(mut child: Child) {
    signal(&child, libc::SIGINT);
    let started = Instant::now();
    while started.elapsed() < STOP_TIMEOUT {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn signal(child: &Child, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's, not yet
        // reaped (we hold its Child), so it names no other process.
        unsafe { libc::kill(pid, signal) };
    }
}

fn initdb(binaries: &Binaries, dir: &Path, data: &Path) {
    let mut command = Command::new(&binaries.initdb);
    command
        .arg("-D")
        .arg(data)
        .args(["--auth=trust", "-U", "postgres", "--no-sync", "--encoding=UTF8", "--locale=C"])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    if let Some((uid, gid)) = binaries.run_as {
        command.uid(uid).gid(gid);
    }
    match command.output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            panic!("initdb failed ({}):\n{}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        }
        Err(e) => panic!("running {}: {e}", binaries.initdb.display()),
    }
}

/// What a cluster's maker may change before its first start.
pub(crate) struct Setup<'a> {
    /// The cluster's directory (private to the user Postgres runs as, and this process).
    pub(crate) dir: &'a Path,
    /// The data directory, made by `initdb`.
    pub(crate) data: &'a Path,
    /// The user Postgres runs as, if not this process's: files it must read are given to it.
    pub(crate) run_as: Option<(u32, u32)>,
}

impl Setup<'_> {
    /// Writes `contents` to `path` with permissions `mode`, owned by the user Postgres runs as.
    pub(crate) fn write(&self, path: &Path, contents: &[u8], mode: u32) {
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path)?;
            io::Write::write_all(&mut file, contents)?;
            fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
            if let Some((uid, gid)) = self.run_as {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
            }
            Ok::<_, io::Error>(())
        })();
        written.unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// Connection settings through the Unix socket in `dir` (quoted: the path may hold spaces).
fn socket_conninfo(dir: &Path, port: u16, database: &str) -> String {
    let quoted = dir.display().to_string().replace('\\', "\\\\").replace('\'', "\\'");
    format!("host='{quoted}' port={port} user=postgres dbname={database}")
}

/// Creates the cluster's directory, private, owned by the user Postgres runs as.
fn prepare_dir(dir: &Path, run_as: Option<(u32, u32)>) -> io::Result<()> {
    let base = crate::base_dir();
    fs::create_dir_all(&base)?;
    // Others (the postgres user) must reach their directory inside.
    fs::set_permissions(&base, fs::Permissions::from_mode(0o755))?;
    fs::create_dir(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// A port nobody listens on now (the kernel's pick). Another process could take it before
/// Postgres binds it; then the start fails with the log saying so.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

fn log_tail(dir: &Path) -> String {
    let log = fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Removes the directories of test processes that are gone (a test binary's statics are never
/// dropped, so the shared cluster's directory outlives its process), first stopping a server
/// still running there.
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(crate::base_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.split('-').next()).and_then(|p| p.parse::<libc::pid_t>().ok()) else { continue };
        if alive(pid) {
            continue;
        }
        if let Some(server) = postmaster_pid(&entry.path().join("data")).filter(|p| alive(*p)) {
            // SAFETY: kill has no memory-safety preconditions. The pid is the one Postgres wrote
            // for a server of a test process that is gone.
            unsafe { libc::kill(server, libc::SIGQUIT) };
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = fs::remove_dir_all(entry.path());
    }
}

fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn postmaster_pid(data: &Path) -> Option<libc::pid_t> {
    fs::read_to_string(data.join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
}
