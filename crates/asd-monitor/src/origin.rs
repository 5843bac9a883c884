//! Requests from other origins. A web page the operator opens in a browser can send requests to the
//! service (it listens on loopback, which the browser reaches); two rules keep such a page from
//! changing or reading anything:
//!
//! - **Host** (against DNS rebinding: a page whose own name resolves to 127.0.0.1 reads the answers as
//!   same-origin): the `Host` header must be an IP literal, `localhost` (or a name under
//!   `.localhost`, which browsers resolve to loopback themselves), or a name given with
//!   `--allowed-host`. An IP literal cannot be rebound: a page whose origin is our address *is* our page.
//! - **Origin** (against cross-site writes): every request that may change something (any method but
//!   GET, HEAD and OPTIONS) from a browser carries `Origin`; it must be the service's own origin (same
//!   host and port as `Host`) or one given with `--allowed-origin`, and `Sec-Fetch-Site`, where sent,
//!   must not be `cross-site` or `same-site`. Clients that are not browsers (curl, `asd monitor watch`,
//!   scripts) send no `Origin` and pass.
//!
//! Together with JSON bodies accepted only as `application/json` (a cross-site page cannot send that
//! without a CORS preflight, which is refused) and multipart uploads held by the Origin rule, no page
//! on another origin can create, enrol, score, or delete. There is no CORS by default; an origin given
//! with `--allowed-origin` gets `Access-Control-Allow-Origin` on its answers and its preflights answered.

use crate::error::ApiError;
use crate::state::Shared;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

/// Which hosts and origins the service answers beside its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Host names (lower case, without port) accepted in `Host` beside IP literals and `localhost`.
    pub allowed_hosts: Vec<String>,
    /// Any `Host` accepted (`--allowed-host '*'`, for a reverse proxy that rewrites it).
    pub any_host: bool,
    /// Origins (`scheme://host[:port]`, lower case) whose pages may call the API, with CORS answers.
    pub allowed_origins: Vec<String>,
}

/// The longest `--allowed-host` / `--allowed-origin` value, bytes.
pub const MAX_NAME_BYTES: usize = 253 + 1 + 5 + 8;

impl OriginPolicy {
    /// Adds a `--allowed-host` value: a host name without scheme or port, or `*`.
    pub fn allow_host(&mut self, raw: &str) -> Result<(), String> {
        let h = raw.trim().to_ascii_lowercase();
        if h == "*" {
            self.any_host = true;
            return Ok(());
        }
        if h.is_empty()
            || h.len() > MAX_NAME_BYTES
            || !h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(format!(
                "--allowed-host '{raw}': give a host name (letters, digits, '-', '.') without scheme or port, or '*'"
            ));
        }
        self.allowed_hosts.push(h);
        Ok(())
    }

    /// Adds a `--allowed-origin` value: `http://host[:port]` or `https://host[:port]`.
    pub fn allow_origin(&mut self, raw: &str) -> Result<(), String> {
        let o = raw.trim().trim_end_matches('/').to_ascii_lowercase();
        let rest = o
            .strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"));
        match rest {
            Some(auth)
                if !auth.is_empty()
                    && o.len() <= MAX_NAME_BYTES + 8
                    && !auth.contains(['/', '?', '#', '@', ' ']) =>
            {
                self.allowed_origins.push(o);
                Ok(())
            }
            _ => Err(format!(
                "--allowed-origin '{raw}': give scheme://host[:port], e.g. https://dashboard.example:3000"
            )),
        }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let o = origin.to_ascii_lowercase();
        self.allowed_origins.contains(&o)
    }

    /// Whether a `Host` header value names this service.
    pub fn host_ok(&self, host: &str) -> bool {
        if self.any_host {
            return true;
        }
        let name = host_name(host).to_ascii_lowercase();
        let ip = name.trim_start_matches('[').trim_end_matches(']');
        ip.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.allowed_hosts.contains(&name)
    }

    /// The check every request passes: `Ok` or the 403 that refuses it.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        if let Some(h) = host
            && !self.host_ok(h)
        {
            return Err(forbidden(format!(
                "Host '{}' is not this service's: use its address, localhost, or start it with --allowed-host NAME",
                shorten(h)
            )));
        }
        if headers.contains_key(header::HOST) && host.is_none() {
            return Err(forbidden("the Host header is not text".to_string()));
        }
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let origin = match headers.get(header::ORIGIN) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| forbidden("the Origin header is not text".to_string()))?,
            ),
        };
        if let Some(o) = origin {
            if self.origin_allowed(o) {
                return Ok(());
            }
            let same = host.is_some_and(|h| same_origin(o, h));
            if !same {
                return Err(forbidden(format!(
                    "a page from {} may not change anything here (cross-origin request refused; an operator can allow an origin with --allowed-origin)",
                    shorten(o)
                )));
            }
        }
        if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
            && (site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site"))
        {
            return Err(forbidden(format!(
                "a {site} request may not change anything here (Sec-Fetch-Site)"
            )));
        }
        Ok(())
    }
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

/// At most 100 characters of a header value in a message.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 100 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(100).collect::<String>())
    }
}

/// The host part of `host[:port]` or `[v6]:port`.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// `http://HOST[:PORT]` against the request's `Host` (port 80 when absent).
fn same_origin(origin: &str, host: &str) -> bool {
    let Some(auth) = origin.strip_prefix("http://") else {
        return false;
    };
    let norm = |a: &str| -> String {
        let a = a.trim().to_ascii_lowercase();
        // The part after an IPv6 literal's bracket holds the port, if any.
        let tail = a.rsplit(']').next().unwrap_or(&a);
        if tail.contains(':') {
            a
        } else {
            format!("{a}:80")
        }
    };
    norm(auth) == norm(host)
}

/// The middleware: refuses what [`OriginPolicy::check`] refuses, answers an allowed origin's CORS
/// preflight, and marks an allowed origin's answers for its browser.
pub async fn guard(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let policy = &s.opts.origins;
    if let Err(e) = policy.check(req.method(), req.headers()) {
        return e.into_response();
    }
    let allowed = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| policy.origin_allowed(o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let Some(origin) = allowed else {
        return next.run(req).await;
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PATCH, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    resp
}

/// Whether a request's `Content-Type` is JSON (`application/json`, parameters allowed). A page on
/// another origin can send `text/plain` without a preflight, never `application/json`.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn status(p: &OriginPolicy, m: Method, pairs: &[(&'static str, &str)]) -> u16 {
        match p.check(&m, &headers(pairs)) {
            Ok(()) => 200,
            Err(e) => e.status.as_u16(),
        }
    }

    #[test]
    fn hosts_that_cannot_be_rebound_pass_and_names_need_allowing() {
        let mut p = OriginPolicy::default();
        for h in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "[::1]",
            "10.1.2.3:80",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:1",
        ] {
            assert!(p.host_ok(h), "{h}");
        }
        for h in [
            "attacker.example",
            "attacker.example:8080",
            "127.0.0.1.nip.io:8080",
            "localhost.attacker.example",
            "",
        ] {
            assert!(!p.host_ok(h), "{h}");
        }
        p.allow_host("Monitor.Plant.example").unwrap();
        assert!(p.host_ok("monitor.plant.example:8080"));
        assert!(!p.host_ok("other.plant.example:8080"));
        assert!(p.allow_host("http://x").is_err());
        assert!(p.allow_host("x:80").is_err());
        assert!(p.allow_host("").is_err());
        p.allow_host("*").unwrap();
        assert!(p.host_ok("attacker.example"));
    }

    #[test]
    fn writes_from_another_origin_are_refused_and_reads_are_host_checked() {
        let p = OriginPolicy::default();
        let host = ("host", "127.0.0.1:8080");
        // The probes.
        assert_eq!(
            status(&p, Method::POST, &[host, ("origin", "http://evil.example")]),
            403
        );
        assert_eq!(
            status(&p, Method::DELETE, &[("host", "attacker.example")]),
            403
        );
        assert_eq!(
            status(&p, Method::GET, &[("host", "attacker.example")]),
            403
        );
        // Same origin, no origin (curl), reads.
        assert_eq!(
            status(
                &p,
                Method::POST,
                &[host, ("origin", "http://127.0.0.1:8080")]
            ),
            200
        );
        assert_eq!(status(&p, Method::POST, &[host]), 200);
        assert_eq!(
            status(&p, Method::GET, &[host, ("origin", "http://evil.example")]),
            200
        );
        // Another port of the same host is another origin; so is https and "null".
        for o in [
            "http://127.0.0.1:8081",
            "https://127.0.0.1:8080",
            "null",
            "http://127.0.0.1",
        ] {
            assert_eq!(
                status(&p, Method::DELETE, &[host, ("origin", o)]),
                403,
                "{o}"
            );
        }
        assert_eq!(
            status(
                &p,
                Method::POST,
                &[("host", "localhost"), ("origin", "http://localhost:80")]
            ),
            200
        );
        assert_eq!(
            status(&p, Method::POST, &[host, ("sec-fetch-site", "cross-site")]),
            403
        );
        assert_eq!(
            status(&p, Method::POST, &[host, ("sec-fetch-site", "same-site")]),
            403
        );
        assert_eq!(
            status(&p, Method::POST, &[host, ("sec-fetch-site", "same-origin")]),
            200
        );
    }

    #[test]
    fn an_allowed_origin_may_write() {
        let mut p = OriginPolicy::default();
        p.allow_origin("https://Dash.example:3000/").unwrap();
        let host = ("host", "127.0.0.1:8080");
        assert_eq!(
            status(
                &p,
                Method::POST,
                &[host, ("origin", "https://dash.example:3000")]
            ),
            200
        );
        assert_eq!(
            status(
                &p,
                Method::POST,
                &[host, ("origin", "https://dash.example:3001")]
            ),
            403
        );
        assert!(p.allow_origin("dash.example").is_err());
        assert!(p.allow_origin("https://dash.example/path").is_err());
    }

    #[test]
    fn json_means_application_json() {
        assert!(is_json(&headers(&[("content-type", "application/json")])));
        assert!(is_json(&headers(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
        assert!(!is_json(&HeaderMap::new()));
    }
}
