//! Clips from edge recorders over MQTT (`asd monitor --mqtt mqtt://HOST:PORT`).
//!
//! A recorder publishes one audio file per message (WAV, FLAC, OGG or MP3, as an upload) to
//! `asd/monitors/<id>/clips`, or to `asd/monitors/<id>/clips/<file name>` to name it, at QoS 1:
//! `mosquitto_pub -q 1 -t asd/monitors/3/clips -f clip.wav` is all it needs. Each result goes to
//! `asd/monitors/<id>/scores` as JSON at QoS 1; a clip that cannot be scored is answered on
//! `asd/monitors/<id>/errors` in the HTTP API's error shape.
//!
//! Delivery: the session is persistent (clean session off, one client id per service), so the broker
//! keeps QoS 1 messages while the service is away. A message is acknowledged only after its score
//! is in the store, or after an error that a retry cannot mend (a bad payload, no such monitor);
//! a store or model failure leaves it unacknowledged, and the broker delivers it again on the next
//! connection. A clip's key is a hash of its topic and bytes: a message delivered again is not
//! scored or stored twice, and its stored result is published again (`"duplicate": true`).

use crate::error::ApiError;
use crate::monitors::ClipScore;
use crate::state::{Shared, blocking, score_waves_keyed};
use axum::http::StatusCode;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use std::time::Duration;

/// Where the service meets its broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTarget {
    pub host: String,
    pub port: u16,
    /// The service's client id: its persistent session at the broker. Two services on one broker
    /// need two ids (and a shared subscription, or topics of their own).
    pub client_id: String,
}

impl MqttTarget {
    /// From `mqtt://HOST[:PORT]` (port 1883 by default).
    pub fn parse(url: &str, client_id: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("--mqtt '{url}': {why} (expected mqtt://HOST[:PORT])");
        let rest = url
            .strip_prefix("mqtt://")
            .ok_or_else(|| bad("only mqtt:// is served"))?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
            return Err(bad("no path, user or query may follow the host"));
        }
        let port_of = |p: &str| {
            p.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address needs its closing ']'"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, port_of(p)?),
                None if after.is_empty() => (h, 1883),
                None => return Err(bad("only :PORT may follow the address")),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, port_of(p)?),
                None => (rest, 1883),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if client_id.is_empty() || client_id.len() > 23 || !client_id.is_ascii() {
            return Err(format!(
                "--mqtt-client-id '{client_id}': 1 to 23 ASCII characters (what every broker takes)"
            ));
        }
        Ok(Self {
            host: host.to_string(),
            port,
            client_id: client_id.to_string(),
        })
    }
}

/// The monitor id and file name a clip's topic names, or why it names none.
pub fn parse_topic(topic: &str) -> Result<(u64, Option<String>), String> {
    let mut parts = topic.splitn(4, '/');
    let (Some("asd"), Some("monitors"), Some(id), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("topic '{topic}' is not asd/monitors/<id>/clips"));
    };
    let id = id
        .parse::<u64>()
        .map_err(|_| format!("topic '{topic}': monitor id '{id}' is not a number"))?;
    match rest.strip_prefix("clips") {
        Some("") => Ok((id, None)),
        Some(name) if name.starts_with('/') && name.len() > 1 => {
            let name = &name[1..];
            crate::limits::text("file name", name, crate::limits::MAX_FILE_NAME_CHARS, false)
                .map_err(|e| format!("topic '{topic}': {e}"))?;
            Ok((id, Some(name.to_string())))
        }
        _ => Err(format!(
            "topic '{topic}' is not asd/monitors/<id>/clips[/<file name>]"
        )),
    }
}

/// A clip's key: its topic and bytes, hashed (64-bit FNV-1a) with its length.
pub fn clip_key(topic: &str, payload: &[u8]) -> String {
    let h = asd_core::hash::fnv1a(
        topic
            .bytes()
            .chain(std::iter::once(0))
            .chain(payload.iter().copied()),
    );
    format!("{h:016x}-{}", payload.len())
}

/// Subscribes and serves until the service stops; reconnects (every second) whenever the broker is
/// gone, and resubscribes on each connection.
pub async fn run(state: Shared, target: MqttTarget) {
    let mut opts = MqttOptions::new(&target.client_id, &target.host, target.port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    // A clip may be as large as an HTTP upload; the rest of a packet is a few bytes of header.
    let max = state.opts.max_body_bytes + 64 * 1024;
    opts.set_max_packet_size(max, max);
    let (client, mut events) = AsyncClient::new(opts, 256);
    let where_ = format!("mqtt://{}:{}", target.host, target.port);
    let mut connected = false;
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                tracing::info!("MQTT: connected to {where_} as '{}'", target.client_id);
                for topic in ["asd/monitors/+/clips", "asd/monitors/+/clips/#"] {
                    if let Err(e) = client.try_subscribe(topic, QoS::AtLeastOnce) {
                        tracing::error!("MQTT: subscribing to {topic}: {e}");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let (state, client) = (state.clone(), client.clone());
                tokio::spawn(async move { handle(&state, &client, p).await });
            }
            Ok(_) => {}
            Err(e) => {
                if connected {
                    tracing::warn!("MQTT: lost {where_}: {e}; reconnecting every second");
                } else {
                    tracing::debug!("MQTT: {where_}: {e}");
                }
                connected = false;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn publish(client: &AsyncClient, topic: String, body: serde_json::Value) {
    if let Err(e) = client
        .publish(topic.clone(), QoS::AtLeastOnce, false, body.to_string())
        .await
    {
        tracing::error!("MQTT: publishing to {topic}: {e}");
    }
}

fn score_body(id: u64, key: &str, duplicate: bool, c: &ClipScore) -> serde_json::Value {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    v["monitor"] = id.into();
    v["key"] = key.into();
    v["duplicate"] = duplicate.into();
    v
}

async fn handle(s: &Shared, client: &AsyncClient, p: Publish) {
    let key = clip_key(&p.topic, &p.payload);
    let (id, name) = match parse_topic(&p.topic) {
        Ok(t) => t,
        Err(e) => {
            // Not ours to answer on a monitor's topic when the id is not a number: logged only.
            tracing::warn!("MQTT: {e}");
            ack(client, &p).await;
            return;
        }
    };
    let name = name.unwrap_or_else(|| format!("mqtt-{key}"));
    match score(s, id, &name, &key, p.payload.to_vec()).await {
        Ok((c, duplicate)) => {
            publish(
                client,
                format!("asd/monitors/{id}/scores"),
                score_body(id, &key, duplicate, &c),
            )
            .await;
            ack(client, &p).await;
        }
        Err(e) => {
            let mut body = e.body();
            body["key"] = key.clone().into();
            body["file"] = name.clone().into();
            publish(client, format!("asd/monitors/{id}/errors"), body).await;
            if e.status.is_server_error() {
                // The store or the model failed: left unacknowledged, the broker delivers the clip
                // again on the next connection.
                tracing::error!("MQTT: {name} for monitor {id}: {}", e.message);
            } else {
                tracing::warn!("MQTT: {name} for monitor {id}: {}", e.message);
                ack(client, &p).await;
            }
        }
    }
}

async fn ack(client: &AsyncClient, p: &Publish) {
    if let Err(e) = client.ack(p).await {
        tracing::error!("MQTT: acknowledging a message on {}: {e}", p.topic);
    }
}

/// Scores one clip once: a key scored before gives its stored result.
async fn score(
    s: &Shared,
    id: u64,
    name: &str,
    key: &str,
    bytes: Vec<u8>,
) -> Result<(ClipScore, bool), ApiError> {
    let stored = {
        let (m, k) = (s.monitors.clone(), key.to_string());
        blocking(move || Ok(m.scored_key(id, &k)?)).await?
    };
    if let Some(h) = stored {
        return Ok(((&h).into(), true));
    }
    if bytes.len() > s.opts.max_body_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{name}: {} bytes, more than the service's limit of {} (--max-body-mib)",
                bytes.len(),
                s.opts.max_body_bytes
            ),
        ));
    }
    let load = s.embedder.load_options();
    let max_s = s.opts.max_clip_seconds;
    let n = name.to_string();
    let wave = blocking(move || {
        crate::clip::decode_upload(bytes, &n, &load, max_s).map_err(|b| {
            let mut e = ApiError::bad_request(b.error.clone());
            e.bad_clips.push(b);
            e
        })
    })
    .await;
    let wave = match wave {
        Ok(w) => w,
        Err(e) => {
            s.metrics.bad_clips(1);
            return Err(e);
        }
    };
    let scored = score_waves_keyed(
        s,
        id,
        vec![(name.to_string(), wave, Some(key.to_string()))],
        "mqtt",
    )
    .await;
    match scored {
        Ok(mut r) => r
            .pop()
            .map(|c| (c, false))
            .ok_or_else(|| ApiError::internal("scoring gave no result")),
        // Delivered twice at once: the other delivery stored it first.
        Err(e) if e.status == StatusCode::CONFLICT => {
            let (m, k) = (s.monitors.clone(), key.to_string());
            match blocking(move || Ok(m.scored_key(id, &k)?)).await? {
                Some(h) => Ok(((&h).into(), true)),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_topics_parse_or_say_why_not() {
        let t = MqttTarget::parse("mqtt://127.0.0.1:1884", "asd").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 1884));
        let t = MqttTarget::parse("mqtt://broker.plant/", "asd").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("broker.plant", 1883));
        let t = MqttTarget::parse("mqtt://[::1]:1885", "asd").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 1885));
        for bad in [
            "tcp://x:1",
            "mqtt://",
            "mqtt://x:0",
            "mqtt://x:99999",
            "mqtt://u@x",
            "mqtt://x/t",
        ] {
            assert!(MqttTarget::parse(bad, "asd").is_err(), "{bad}");
        }
        assert!(MqttTarget::parse("mqtt://x", "").is_err());
        assert!(MqttTarget::parse("mqtt://x", &"a".repeat(24)).is_err());

        assert_eq!(parse_topic("asd/monitors/3/clips"), Ok((3, None)));
        assert_eq!(
            parse_topic("asd/monitors/3/clips/pump 07.wav"),
            Ok((3, Some("pump 07.wav".into())))
        );
        for bad in [
            "asd/monitors/x/clips",
            "asd/monitors/3/clip",
            "asd/monitors/3/clips/",
            "asd/other/3/clips",
            "asd/monitors/3",
        ] {
            assert!(parse_topic(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_differs_with_topic_or_bytes() {
        let k = clip_key("asd/monitors/1/clips", b"RIFF....");
        assert_eq!(k, clip_key("asd/monitors/1/clips", b"RIFF...."));
        assert_ne!(k, clip_key("asd/monitors/2/clips", b"RIFF...."));
        assert_ne!(k, clip_key("asd/monitors/1/clips", b"RIFF...,"));
        assert!(k.ends_with("-8"));
    }
}
