//! The optional bearer token. API clients send `Authorization: Bearer TOKEN`; a browser opens
//! `/?token=TOKEN` once and gets the token as an HttpOnly cookie, which the page's requests then carry.

use crate::error::ApiError;
use crate::state::Shared;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub const COOKIE: &str = "asd_token";

/// Equal without an early exit, so response times do not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented(req: &Request) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some((scheme, t)) = v.trim().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        out.push(t.trim().to_string());
    }
    for v in req.headers().get_all(header::COOKIE) {
        if let Ok(v) = v.to_str() {
            for part in v.split(';') {
                if let Some(t) = part.trim().strip_prefix(&format!("{COOKIE}=")) {
                    out.push(t.to_string());
                }
            }
        }
    }
    out
}

fn query_token(req: &Request) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        kv.strip_prefix("token=").map(|t| {
            t.replace("%2B", "+")
                .replace("%2F", "/")
                .replace("%3D", "=")
        })
    })
}

pub async fn guard(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let Some(token) = s.opts.token.clone() else {
        return next.run(req).await;
    };
    if presented(&req)
        .iter()
        .any(|t| same(t.as_bytes(), token.as_bytes()))
    {
        return next.run(req).await;
    }
    if req.uri().path() == "/"
        && let Some(t) = query_token(&req)
        && same(t.as_bytes(), token.as_bytes())
    {
        let mut resp = next.run(req).await;
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return resp;
    }
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "missing or wrong token: send 'Authorization: Bearer TOKEN' (browsers: open /?token=TOKEN)",
    )
    .into_response()
}
