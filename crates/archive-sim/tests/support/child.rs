//! Child processes in tests, shared by archive-sim's tests (`support`) and lakesync's
//! `tests/it` (which includes this file by path): a child the kernel kills should the test
//! process die, the simulator started on a free port, and the stdout of an s5cmd run that
//! must succeed.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Have the kernel SIGKILL `cmd`'s child when the test process dies (PR_SET_PDEATHSIG), so a
/// failed test leaves no server behind.
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

/// archive-sim on a free 127.0.0.1 port, killed when dropped.
pub struct Sim {
    child: Child,
    pub url: String,
}

impl Sim {
    /// Start the simulator binary `exe` with `args` and wait (2 minutes at most: the catalog
    /// is built first) for the URL it prints on its first stdout line.
    pub fn spawn(exe: &Path, args: &[&str], stderr: Stdio) -> Sim {
        let mut cmd = Command::new(exe);
        cmd.args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = die_with_parent(&mut cmd)
            .spawn()
            .expect("cannot start archive-sim");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_default();
        let url = line.trim().to_string();
        if !url.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            panic!("archive-sim did not print its URL (got {line:?})");
        }
        Sim { child, url }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stdout of the s5cmd run `args` that gave `out`; panics with both streams unless it
/// succeeded.
pub fn success_stdout(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "s5cmd {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
