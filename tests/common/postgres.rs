//! A real PostgreSQL server for the tests: Debian's `postgresql` package
//! (scripts/setup.sh installs it), `initdb` in a temporary folder, a loopback
//! port, password authentication. It stops when its owner drops it, and at
//! the latest when the test process exits.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub const USER: &str = "bo";
pub const PASSWORD: &str = "test-password";

pub struct PgServer {
    pub port: u16,
    folder: tempfile::TempDir,
    control: mpsc::Sender<Control>,
    keeper: Option<thread::JoinHandle<()>>,
}

enum Control {
    Stop(mpsc::Sender<()>),
    Start(mpsc::Sender<()>),
}

/// The folder of `initdb` and `postgres`: BO_PG_BIN, else the newest of
/// Debian's /usr/lib/postgresql/N/bin, else PATH.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BO_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("postgres").is_file())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        .expect("PostgreSQL's initdb and postgres are not installed: run scripts/setup.sh (Debian's `postgresql`)")
}

/// The user the server runs as: PostgreSQL refuses to run as root, so root
/// runs it as Debian's `postgres` user.
fn server_user() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !entry.is_null(),
        "running as root, the tests need the `postgres` user that Debian's postgresql package creates"
    );
    Some(unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}

fn as_server_user(command: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = server_user() {
        command.uid(uid).gid(gid);
    }
    command
}

/// Data folders of servers that stopped long ago: the shared server of a
/// test binary is stopped at exit, but nothing removes its folder then.
fn remove_stale_folders() {
    let old = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(3600))
    };
    for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with("bo-pg-");
        if ours && old(&path) && !path.join("data/postmaster.pid").exists() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl PgServer {
    /// A new server with its own data folder and port.
    pub fn start() -> PgServer {
        PgServer::start_with(false)
    }

    /// A new server that also speaks TLS, with a self-signed certificate
    /// that no system trusts.
    pub fn start_with_tls() -> PgServer {
        PgServer::start_with(true)
    }

    fn start_with(tls: bool) -> PgServer {
        remove_stale_folders();
        let folder = tempfile::Builder::new().prefix("bo-pg-").tempdir().unwrap();
        let data = folder.path().join("data");
        let password_file = folder.path().join("password");
        std::fs::write(&password_file, PASSWORD).unwrap();
        if let Some((uid, gid)) = server_user() {
            for path in [folder.path(), password_file.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
            }
        }
        let out = as_server_user(&mut Command::new(bin_dir().join("initdb")))
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "--auth=scram-sha-256", "--no-sync", "-E", "UTF8"])
            .arg(format!("--pwfile={}", password_file.display()))
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut settings = vec![format!("unix_socket_directories={}", folder.path().display())];
        if tls {
            let (cert, key) = (folder.path().join("server.crt"), folder.path().join("server.key"));
            let out = Command::new("openssl")
                .args([
                    "req",
                    "-new",
                    "-x509",
                    "-days",
                    "2",
                    "-nodes",
                    "-subj",
                    "/CN=localhost",
                    "-keyout",
                ])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
            if let Some((uid, gid)) = server_user() {
                for path in [&cert, &key] {
                    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
                }
            }
            settings.push("ssl=on".into());
            settings.push(format!("ssl_cert_file={}", cert.display()));
            settings.push(format!("ssl_key_file={}", key.display()));
        }
        let port = free_port();
        let (control, orders) = mpsc::channel();
        // The server is this thread's child: it gets SIGINT (a fast, clean
        // shutdown) when the thread ends, so also when the test process exits.
        let keeper = thread::spawn(move || keep(&data, &settings, port, orders));
        let server = PgServer {
            port,
            folder,
            control,
            keeper: Some(keeper),
        };
        server.wait_ready();
        server
    }

    /// A server shared by the tests of one test binary.
    pub fn shared() -> &'static PgServer {
        static SERVER: OnceLock<PgServer> = OnceLock::new();
        SERVER.get_or_init(PgServer::start)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database on this server, named after `name`.
    pub fn database(&self, name: &str) -> String {
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!("t_{}_{name}", std::process::id());
        let mut admin = self.client("postgres");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(&name)
    }

    pub fn client(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(database), postgres::NoTls).unwrap()
    }

    /// Stops the server (a fast shutdown: clients are disconnected) and waits.
    pub fn stop(&self) {
        let (done, wait) = mpsc::channel();
        self.control.send(Control::Stop(done)).unwrap();
        wait.recv().unwrap();
    }

    /// Starts the stopped server again on the same port and data.
    pub fn start_again(&self) {
        let (done, wait) = mpsc::channel();
        self.control.send(Control::Start(done)).unwrap();
        wait.recv().unwrap();
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match postgres::Client::connect(&self.url("postgres"), postgres::NoTls) {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => panic!("the test server never accepted connections: {e}"),
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    pub fn folder(&self) -> &Path {
        self.folder.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Closing the channel ends the keeper, which stops the server.
        let (control, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.control, control));
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

/// Runs the server until told otherwise; stops it when the channel closes.
fn keep(data: &Path, settings: &[String], port: u16, orders: mpsc::Receiver<Control>) {
    let spawn = || -> Child {
        let mut command = Command::new(bin_dir().join("postgres"));
        command
            .arg("-D")
            .arg(data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .args(settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_server_user(&mut command);
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command.spawn().expect("postgres starts")
    };
    let stop = |child: &mut Child| {
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let _ = child.wait();
    };
    let mut child = Some(spawn());
    while let Ok(order) = orders.recv() {
        match order {
            Control::Stop(done) => {
                if let Some(mut c) = child.take() {
                    stop(&mut c);
                }
                let _ = done.send(());
            }
            Control::Start(done) => {
                if child.is_none() {
                    child = Some(spawn());
                }
                let _ = done.send(());
            }
        }
    }
    if let Some(mut c) = child.take() {
        stop(&mut c);
    }
}
