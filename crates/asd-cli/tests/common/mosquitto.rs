//! A real Mosquitto broker on a loopback port in a temporary folder, for the MQTT tests.
//!
//! Needs Debian's `mosquitto` and `mosquitto-clients`. Without them a test says so and passes,
//! unless ASD_REQUIRE_MQTT=1 (set by .ci/run, which installs them), where it fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Broker {
    child: Option<Child>,
    bin: PathBuf,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn found(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// `mosquitto_pub`, where the broker is installed with its clients.
pub fn mosquitto_pub() -> PathBuf {
    found(&["/usr/bin/mosquitto_pub"]).expect("mosquitto_pub (apt-get install mosquitto-clients)")
}

impl Broker {
    /// A broker on a free loopback port, or `None` (after saying so) where Mosquitto is missing and
    /// not required.
    pub fn start() -> Option<Self> {
        let bin = found(&["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]);
        let (Some(bin), Some(_)) = (bin, found(&["/usr/bin/mosquitto_pub"])) else {
            assert!(
                std::env::var("ASD_REQUIRE_MQTT").as_deref() != Ok("1"),
                "ASD_REQUIRE_MQTT=1 but mosquitto or mosquitto_pub is missing"
            );
            eprintln!("SKIPPED: mosquitto not found (apt-get install mosquitto mosquitto-clients)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        // Started as root, Mosquitto drops to its own user; its log goes here all the same.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let mut b = Self {
            child: None,
            bin,
            port,
            dir,
        };
        b.restart();
        Some(b)
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops the broker (a crash: SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it (again) on its port, and waits until it listens.
    pub fn restart(&mut self) {
        self.stop();
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest file {}\n",
                self.port,
                self.dir.path().join("mosquitto.log").display()
            ),
        )
        .unwrap();
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "mosquitto did not listen on {}: {}",
            self.port,
            std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
        );
    }

    /// What the broker logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// `mosquitto_pub -q 1 -t TOPIC -f FILE`, as an edge recorder sends a clip.
    pub fn publish_file(&self, topic: &str, file: &Path) {
        let out = Command::new(mosquitto_pub())
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-q",
                "1",
                "-t",
                topic,
                "-f",
            ])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A test's own MQTT client: everything published on the topics arrives on the channel as (topic,
/// JSON); it subscribes again after each reconnection.
pub fn listen(
    port: u16,
    topics: &[&str],
) -> std::sync::mpsc::Receiver<(String, serde_json::Value)> {
    let mut opts = rumqttc::MqttOptions::new(
        format!("asd-test-{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = rumqttc::Client::new(opts, 64);
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    std::thread::spawn(move || {
        for ev in conn.iter() {
            match ev {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                    for t in &topics {
                        let _ = client.try_subscribe(t.clone(), rumqttc::QoS::AtLeastOnce);
                    }
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let v = serde_json::from_slice(&p.payload)
                        .unwrap_or_else(|_| String::from_utf8_lossy(&p.payload).into());
                    if tx.send((p.topic.clone(), v)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the test's subscription");
    rx
}
