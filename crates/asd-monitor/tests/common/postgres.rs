//! A real PostgreSQL server in a temporary folder on a loopback port, for the store tests.
//!
//! Needs Debian's `postgresql` (initdb and pg_ctl under /usr/lib/postgresql/*/bin). initdb refuses to
//! run as root, so as root (CI) the server runs as Debian's `postgres` user through `runuser`.
//! Without the server a test says so and passes, unless ASD_REQUIRE_POSTGRES=1 (set by .ci/run,
//! which installs it), where it fails.

use std::path::PathBuf;
use std::process::Command;

pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    as_postgres: bool,
}

fn bin_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("ASD_PG_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    // The newest major version.
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PgServer {
    /// A fresh cluster, started; `None` (after saying so) where PostgreSQL is missing and not required.
    pub fn start() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var("ASD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "ASD_REQUIRE_POSTGRES=1 but PostgreSQL's initdb is missing"
            );
            eprintln!("SKIPPED: PostgreSQL not found (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = Self {
            bin,
            dir,
            port,
            as_postgres: is_root(),
        };
        let data = s.dir.path().join("data");
        s.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "asd",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        s.start_again();
        Some(s)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        } else {
            Command::new(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        }
        .unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://asd@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it takes connections.
    pub fn start_again(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once, as a crash would (immediate mode: no checkpoint).
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let exe = self.bin.join("pg_ctl");
        let args = [
            "-D",
            data.to_str().unwrap_or(""),
            "-m",
            "immediate",
            "-w",
            "stop",
        ];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}
