//! Child processes that never outlive their trial or bo: each leads its own
//! process group, dies with bo (the parent-death signal), and a guard process
//! kills whatever is left of its group if bo is killed outright.

use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

/// The longest output line kept; the rest of a longer one is dropped.
const MAX_LINE: usize = 1 << 20;

/// Reads up to a newline like `read_until`, keeping at most MAX_LINE bytes of it.
fn read_line_capped(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(total);
        }
        let (taken, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buffer.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&buffer[..taken.min(room)]);
        reader.consume(taken);
        total += taken;
        if done {
            return Ok(total);
        }
    }
}

/// The hidden `bo` subcommand that guards a process group (see [`guard_main`]).
pub const GUARD_COMMAND: &str = "__guard-process-group";

/// A started program: the child, its output as lines, and its guard.
pub struct Group {
    pub child: Child,
    /// Standard output, one line at a time; invalid UTF-8 is replaced, never fatal.
    pub lines: Receiver<String>,
    stderr_tail: Option<Receiver<String>>,
    /// Holding this open keeps the guard waiting; dropping it (or bo's death) fires it.
    guard: Option<(Child, ChildStdin)>,
    /// Set once the program is reaped: its group id is no longer ours to kill.
    status: Option<ExitStatus>,
}

impl Group {
    /// Starts `command` in a process group of its own with piped output.
    /// `stderr_tail` keeps the last that many bytes of standard error;
    /// `None` lets standard error through to bo's.
    pub fn spawn(command: &mut Command, stderr_tail: Option<usize>) -> io::Result<Group> {
        let parent = std::process::id() as libc::pid_t;
        command
            .stdout(Stdio::piped())
            .stderr(if stderr_tail.is_some() {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .process_group(0);
        // SAFETY: prctl, getppid and raise are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // bo may have died between fork and prctl.
                if libc::getppid() != parent {
                    libc::raise(libc::SIGKILL);
                }
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let guard = start_guard(child.id());
        let stdout = child.stdout.take().expect("piped");
        let (lines_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            // A line longer than MAX_LINE keeps its start: a program cannot exhaust bo's memory.
            while read_line_capped(&mut reader, &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_owned();
                if lines_tx.send(text).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let stderr_tail = stderr_tail.map(|keep| {
            let mut stderr = child.stderr.take().expect("piped");
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                // Only the tail is kept, however much the program writes.
                let mut text = Vec::new();
                let mut chunk = [0u8; 64 * 1024];
                while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                    text.extend_from_slice(&chunk[..n]);
                    if text.len() > 2 * keep + chunk.len() {
                        text.drain(..text.len() - 2 * keep);
                    }
                }
                let text = String::from_utf8_lossy(&text).into_owned();
                let start = text.len().saturating_sub(keep);
                let _ = tx.send(text[text.ceil_char_boundary(start)..].trim().to_owned());
            });
            rx
        });
        Ok(Group {
            child,
            lines,
            stderr_tail,
            guard,
            status: None,
        })
    }

    /// Whether the program has exited, without reaping it: while it is a
    /// zombie its process-group id cannot be reused, so killing the group
    /// afterwards cannot hit a stranger.
    pub fn has_exited(&self) -> bool {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.child.id(),
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // With WNOHANG a running child leaves si_pid at 0; an error means it was already reaped.
        rc != 0 || unsafe { info.si_pid() } != 0
    }

    /// Kills what is left of the group (the program and anything it started),
    /// reaps the program and returns its exit status. Calling it again only
    /// returns the status.
    pub fn finish(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        // The guard fires while the program is still an unreaped zombie, so
        // the group id it kills cannot have been reused yet.
        self.release_guard();
        let status = self.child.wait()?;
        self.status = Some(status);
        Ok(status)
    }

    /// Asks the whole group to stop (SIGTERM), gives it `grace` to do so,
    /// then kills what is left and reaps the program (see [`Group::finish`]).
    pub fn terminate(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if self.status.is_none() {
            unsafe {
                libc::kill(-(self.child.id() as libc::pid_t), libc::SIGTERM);
            }
            let start = std::time::Instant::now();
            while !self.has_exited() && start.elapsed() < grace {
                thread::sleep(Duration::from_millis(10));
            }
        }
        self.finish()
    }

    /// Standard error's last bytes (empty when it was let through); waits at
    /// most a second for a stray process that still holds it open.
    pub fn stderr_tail(&mut self) -> String {
        self.stderr_tail
            .take()
            .and_then(|rx| rx.recv_timeout(Duration::from_secs(1)).ok())
            .unwrap_or_default()
    }

    fn release_guard(&mut self) {
        if let Some((mut guard, stdin)) = self.guard.take() {
            drop(stdin);
            let _ = guard.wait();
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Starts `bo GUARD_COMMAND PGID` with a pipe on its standard input. Without
/// the guard, `kill -9` of bo would leave the program's own children running.
fn start_guard(pgid: u32) -> Option<(Child, ChildStdin)> {
    let exe = std::env::current_exe().ok()?;
    // Only bo's own binary has the subcommand (not a test harness that links the library).
    if exe.file_stem().is_none_or(|s| s != "bo") {
        return None;
    }
    let mut guard = Command::new(exe)
        .arg(GUARD_COMMAND)
        .arg(pgid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's process group: Ctrl-C must not kill it first.
        .process_group(0)
        .spawn()
        .ok()?;
    let stdin = guard.stdin.take()?;
    Some((guard, stdin))
}

/// The guard: waits until bo closes its standard input (the trial ended, or bo
/// died), then kills the process group that is still left.
pub fn guard_main(pgid: &str) -> io::Result<()> {
    let pgid: libc::pid_t = pgid
        .parse()
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad process group"))?;
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    Ok(())
}
