//! The HTTP API and the web page.

use crate::alerts::{AlertRule, Policy, Retention};
use crate::auth;
use crate::clip::decode_upload;
use crate::error::{ApiError, BadClip};
use crate::metrics::Gauges;
use crate::monitors::{Enrolment, RECENT, Recent, density_name};
use crate::origin;
use crate::state::{Q, Shared, blocking, parse_id, score_waves};
use crate::store::MonitorSpec;
use crate::stream;
use asd_scoring::density::Density;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

const PAGE: &str = include_str!("page.html");

pub fn router(state: Shared) -> Router {
    let limit = state.opts.max_body_bytes;
    let api = Router::new()
        .route("/v1/monitors", get(list_monitors).post(create_monitor))
        .route(
            "/v1/monitors/{id}",
            get(get_monitor).delete(delete_monitor).patch(patch_monitor),
        )
        .route("/v1/alerts", get(list_alerts))
        .route(
            "/v1/monitors/{id}/references",
            get(list_references).post(enrol),
        )
        .route(
            "/v1/monitors/{id}/references/{reference}",
            delete(remove_reference),
        )
        .route("/v1/monitors/{id}/score", post(score))
        .route("/v1/monitors/{id}/history", get(history))
        .route("/metrics", get(metrics))
        .route("/", get(page))
        .layer(DefaultBodyLimit::max(limit))
        .route(
            "/v1/monitors/{id}/stream",
            post(stream::stream).layer(DefaultBodyLimit::disable()),
        )
        .fallback(|| async { ApiError::not_found("no such route; see docs/monitor.md") })
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::guard));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(api)
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), origin::guard))
        .layer(middleware::from_fn_with_state(state.clone(), measure))
        .with_state(state)
}

/// What a failed read of a request body answers: 408 where the client paused longer than the body
/// timeout, 413 where it sent more than the limit.
fn body_error(e: &axum::Error, s: &Shared) -> ApiError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = src {
        if x.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body paused for more than {} s (--body-timeout-seconds)",
                    s.opts.connections.body_idle_timeout.as_secs_f64()
                ),
            );
        }
        src = x.source();
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request body over the limit of {} bytes (--max-body-mib): {e}",
            s.opts.max_body_bytes
        ),
    )
}

/// The longest error text of a rejection that is passed on inside the JSON shape, bytes.
const MAX_REJECTION_BYTES: usize = 4096;

/// Every error answer in the one JSON shape (`{"error", "status"}`): the handlers' errors already
/// are; this catches what the router and axum's extractors answer themselves (405 with an empty body,
/// 413 and other rejections as plain text), keeping their other headers.
async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if !text.is_empty() {
        text
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        format!("{method} is not a method of this route; see docs/monitor.md for the API")
    } else {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string()
    };
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let json = ApiError::new(status, message).into_response();
    let (jparts, jbody) = json.into_parts();
    parts.headers.extend(jparts.headers);
    Response::from_parts(parts, jbody)
}

async fn measure(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let resp = next.run(req).await;
    s.metrics
        .request(&method, &route, resp.status().as_u16(), start.elapsed());
    resp
}

async fn healthz(State(s): State<Shared>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "model": s.embedder.model_key(),
        "frontend": s.embedder.frontend(),
        "dimensions": s.embedder.space().dim,
        "distance": s.embedder.space().distance,
        "clip_seconds": asd_audio::model_seconds(s.embedder.clip_len()),
    }))
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn metrics(State(s): State<Shared>) -> Response {
    let list = s.monitors.list().unwrap_or_default();
    let references = list.iter().filter_map(|m| m.size().ok()).sum();
    let mut text = s.metrics.render(&Gauges {
        monitors: list.len(),
        references,
    });
    let space = s.embedder.space();
    let label = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    text.push_str(
        "# HELP asd_monitor_alert 1 while the monitor's alert rule has raised its alert, else 0.\n# TYPE asd_monitor_alert gauge\n",
    );
    for m in &list {
        if let Ok(a) = m.alert() {
            text.push_str(&format!(
                "asd_monitor_alert{{monitor=\"{}\",name=\"{}\",machine_type=\"{}\"}} {}\n",
                m.id,
                label(&m.spec.name),
                label(&m.spec.machine_type),
                u8::from(a.active)
            ));
        }
    }
    text.push_str(&format!(
        "# HELP asd_embedding_info What embeds the clips: the front-end, the embeddings' length and distance.\n# TYPE asd_embedding_info gauge\nasd_embedding_info{{frontend=\"{}\",dimensions=\"{}\",distance=\"{}\"}} 1\n",
        label(s.embedder.frontend()),
        space.dim,
        space.distance
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn list_monitors(State(s): State<Shared>) -> Result<Response, ApiError> {
    let monitors = s.monitors.clone();
    let infos = blocking(move || {
        let mut v = Vec::new();
        for m in monitors.list()? {
            let info = m.info()?;
            let recent = monitors.history(info.id, None, None, RECENT)?;
            v.push(with_recent(info, &recent));
        }
        Ok(v)
    })
    .await?;
    Ok(Json(serde_json::json!({ "monitors": infos })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    machine_type: String,
    #[serde(default)]
    section: String,
    /// K of the k-NN density (default 16, the paper's).
    k: Option<usize>,
    /// GWRP factor r instead of k-NN.
    gwrp_r: Option<f64>,
    /// Decision threshold percentile (default 0.9).
    percentile: Option<f64>,
    /// Alert rule (default: 3 of 5 raise, 5 normal clear).
    alert: Option<AlertRule>,
    /// What of the history is kept (default: the newest 10⁶ scores).
    retention: Option<Retention>,
}

pub fn spec_from(
    name: String,
    machine_type: String,
    section: String,
    k: Option<usize>,
    gwrp_r: Option<f64>,
    percentile: Option<f64>,
) -> Result<MonitorSpec, ApiError> {
    let density = match (k, gwrp_r) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give either k or gwrp_r, not both"));
        }
        (_, Some(r)) => Density::Gwrp(r),
        (k, None) => Density::KnnMean(k.unwrap_or(16)),
    };
    Ok(MonitorSpec {
        name,
        machine_type,
        section,
        density,
        percentile: percentile.unwrap_or(0.9),
    })
}

/// The monitor a `POST /v1/monitors` body asks for, checked against every limit.
pub fn create_body(body: &[u8]) -> Result<(MonitorSpec, Policy), ApiError> {
    let b: CreateBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "body must be JSON {{\"name\", \"machine_type\", \"section\", \"k\" or \"gwrp_r\", \"percentile\", \"alert\", \"retention\"}}: {e}"
        ))
    })?;
    let spec = spec_from(
        b.name,
        b.machine_type,
        b.section,
        b.k,
        b.gwrp_r,
        b.percentile,
    )?;
    crate::monitors::validate_spec(&spec)?;
    let policy = Policy {
        alert: b.alert.unwrap_or_default(),
        retention: b.retention.unwrap_or_default(),
    };
    policy.validate().map_err(ApiError::bad_request)?;
    Ok((spec, policy))
}

async fn create_monitor(
    State(s): State<Shared>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !origin::is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be sent as Content-Type: application/json",
        ));
    }
    let (spec, policy) = create_body(&body)?;
    let monitors = s.monitors.clone();
    let info =
        blocking(move || Ok(monitors.create_with(spec, policy, Vec::new())?.info()?)).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn get_monitor(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "monitor")?;
    let monitors = s.monitors.clone();
    let info = blocking(move || {
        let info = monitors.get(id)?.info()?;
        let recent = monitors.history(id, None, None, RECENT)?;
        Ok(with_recent(info, &recent))
    })
    .await?;
    Ok(Json(info).into_response())
}

/// A monitor's settings with its state from the latest decisions (`recent`).
fn with_recent(
    info: crate::monitors::MonitorInfo,
    rows: &[crate::store::HistoryRow],
) -> serde_json::Value {
    let mut v = serde_json::to_value(&info).unwrap_or_default();
    v["recent"] = serde_json::to_value(Recent::of(rows, info.alert.active)).unwrap_or_default();
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    alert: Option<AlertRule>,
    retention: Option<Retention>,
}

/// Changes a monitor's alert rule and/or retention; what the body leaves out stays.
async fn patch_monitor(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "monitor")?;
    if !origin::is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be sent as Content-Type: application/json",
        ));
    }
    let b: PatchBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body must be JSON {{\"alert\": {{\"raise_m\", \"raise_n\", \"clear_k\"}}, \"retention\": {{\"max_rows\", \"max_age_days\"}}}}: {e}"
        ))
    })?;
    let monitors = s.monitors.clone();
    let info = blocking(move || {
        let m = monitors.get(id)?;
        let old = m.policy()?;
        let policy = Policy {
            alert: b.alert.unwrap_or(old.alert),
            retention: b.retention.unwrap_or(old.retention),
        };
        policy.validate().map_err(ApiError::bad_request)?;
        monitors.set_policy(id, policy)?;
        let recent = monitors.history(id, None, None, RECENT)?;
        Ok(with_recent(m.info()?, &recent))
    })
    .await?;
    Ok(Json(info).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    monitor: Option<u64>,
    before: Option<i64>,
    limit: Option<usize>,
}

/// Every monitor's alert (raised ones first) and the raises and clears, newest first.
async fn list_alerts(State(s): State<Shared>, Q(q): Q<AlertsQuery>) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let monitors = s.monitors.clone();
    let (alerts, events) = blocking(move || {
        let mut alerts = Vec::new();
        for m in monitors.list()? {
            if q.monitor.is_some_and(|id| id != m.id) {
                continue;
            }
            let a = m.alert()?;
            alerts.push(serde_json::json!({
                "monitor": m.id,
                "name": m.spec.name,
                "machine_type": m.spec.machine_type,
                "active": a.active,
                "since_ms": a.since_ms,
                "rule": m.policy()?.alert,
            }));
        }
        alerts.sort_by_key(|a| !a["active"].as_bool().unwrap_or(false));
        let events = monitors.alert_events(q.monitor, q.before, limit)?;
        Ok((alerts, events))
    })
    .await?;
    let next_before = if events.len() == limit {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(serde_json::json!({
        "alerts": alerts, "events": events, "next_before": next_before
    }))
    .into_response())
}

async fn delete_monitor(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "monitor")?;
    let monitors = s.monitors.clone();
    blocking(move || Ok(monitors.delete(id)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Page {
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn list_references(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Q(p): Q<Page>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "monitor")?;
    let all = s.monitors.get(id)?.references()?;
    let total = all.len();
    let offset = p.offset.unwrap_or(0);
    let limit = p.limit.unwrap_or(100).min(10_000);
    let page: Vec<_> = all.into_iter().skip(offset).take(limit).collect();
    Ok(Json(serde_json::json!({
        "monitor": id, "total": total, "offset": offset, "references": page
    }))
    .into_response())
}

#[derive(Deserialize, Default)]
pub struct ClipQuery {
    /// File name of a raw-body upload (its extension helps to tell the format).
    pub name: Option<String>,
    /// Condition tag of enrolled clips (default "source").
    pub condition: Option<String>,
}

/// The clips of a request: a multipart form (fields with a file name are clips; a text field
/// `condition` sets the tag) or one clip as the raw body.
async fn clips_of(
    s: &Shared,
    req: Request,
    q: &ClipQuery,
) -> Result<(Vec<(String, Vec<u8>)>, Option<String>), ApiError> {
    if let Some(n) = &q.name {
        crate::limits::text_field("name", n, crate::limits::MAX_FILE_NAME_CHARS, false)?;
    }
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut clips = Vec::new();
    let mut condition = None;
    if multipart {
        let mut form = Multipart::from_request(req, s)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        loop {
            let field = form.next_field().await.map_err(|e| {
                ApiError::new(e.status(), format!("reading the form: {}", e.body_text()))
            })?;
            let Some(field) = field else { break };
            let file = field.file_name().map(str::to_string);
            let fname = field.name().map(str::to_string);
            let data = field
                .bytes()
                .await
                .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
            match file {
                Some(f) => clips.push((f, data.to_vec())),
                None if fname.as_deref() == Some("condition") => {
                    condition = Some(String::from_utf8_lossy(&data).trim().to_string());
                }
                None => {}
            }
            if clips.len() > s.opts.max_clips {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("more than {} clips in one request", s.opts.max_clips),
                ));
            }
        }
    } else {
        let body = axum::body::to_bytes(req.into_body(), s.opts.max_body_bytes)
            .await
            .map_err(|e| body_error(&e, s))?;
        let name = q.name.clone().unwrap_or_else(|| "upload".to_string());
        clips.push((name, body.to_vec()));
    }
    if clips.is_empty() {
        return Err(ApiError::bad_request(
            "no clip in the request: send one audio file as the body, or a multipart form with file fields",
        ));
    }
    Ok((clips, condition))
}

/// Decodes every clip (in parallel); returns the good ones and every bad one with its reason.
async fn decode_all(
    s: &Shared,
    clips: Vec<(String, Vec<u8>)>,
) -> Result<(Vec<(String, Vec<f32>)>, Vec<BadClip>), ApiError> {
    let load = s.embedder.load_options();
    let max_s = s.opts.max_clip_seconds;
    let decoded = blocking(move || {
        Ok(clips
            .into_par_iter()
            .map(|(name, bytes)| {
                let r = decode_upload(bytes, &name, &load, max_s);
                (name, r)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (name, r) in decoded {
        match r {
            Ok(w) => good.push((name, w)),
            Err(b) => bad.push(b),
        }
    }
    s.metrics.bad_clips(bad.len());
    Ok((good, bad))
}

fn refused(bad: Vec<BadClip>, what: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "{} clip(s) could not be read; {what}: {}",
            bad.len(),
            bad.iter()
                .map(|b| format!("{}: {}", b.file, b.error))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
    e.bad_clips = bad;
    e
}

#[derive(Serialize)]
struct Enrolled {
    monitor: u64,
    ids: Vec<u64>,
    references: usize,
    threshold: Option<f64>,
    conditions: std::collections::BTreeMap<String, usize>,
}

async fn enrol(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Q(q): Q<ClipQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "monitor")?;
    s.monitors.get(id)?;
    let (clips, form_condition) = clips_of(&s, req, &q).await?;
    let condition = form_condition
        .or(q.condition.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "source".to_string());
    crate::limits::text_field(
        "condition",
        &condition,
        crate::limits::MAX_CONDITION_CHARS,
        true,
    )?;
    let (good, bad) = decode_all(&s, clips).await?;
    if !bad.is_empty() {
        return Err(refused(bad, "nothing was enrolled"));
    }
    let (names, waves): (Vec<String>, Vec<Vec<f32>>) = good.into_iter().unzip();
    let emb = s.embedder.embed(waves).await?;
    let enrolments: Vec<Enrolment> = names
        .into_iter()
        .zip(emb)
        .map(|(file, embedding)| Enrolment {
            embedding,
            condition: condition.clone(),
            file,
        })
        .collect();
    let n = enrolments.len();
    let monitors = s.monitors.clone();
    let (ids, info) = blocking(move || {
        let ids = monitors.enrol(id, enrolments)?;
        Ok((ids, monitors.get(id)?.info()?))
    })
    .await?;
    s.metrics.enrolled(n);
    Ok((
        StatusCode::CREATED,
        Json(Enrolled {
            monitor: id,
            ids,
            references: info.references,
            threshold: info.threshold,
            conditions: info.conditions,
        }),
    )
        .into_response())
}

async fn remove_reference(
    State(s): State<Shared>,
    Path((id, reference)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "monitor")?;
    let reference = parse_id(&reference, "reference")?;
    let monitors = s.monitors.clone();
    blocking(move || Ok(monitors.remove_reference(id, reference)?)).await?;
    s.metrics.removed(1);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn score(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Q(q): Q<ClipQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "monitor")?;
    s.monitors.get(id)?;
    let (clips, _) = clips_of(&s, req, &q).await?;
    let (good, bad) = decode_all(&s, clips).await?;
    if good.is_empty() {
        return Err(refused(bad, "nothing was scored"));
    }
    let results = score_waves(&s, id, good, "request").await?;
    let m = s.monitors.get(id)?;
    Ok(Json(serde_json::json!({
        "monitor": id,
        "method": density_name(m.spec.density),
        "neighbours": m.spec.density.neighbours_needed(m.size()?),
        "results": results,
        "bad_clips": bad,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct HistoryQuery {
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<usize>,
}

async fn history(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Q(q): Q<HistoryQuery>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "monitor")?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let monitors = s.monitors.clone();
    let rows = blocking(move || Ok(monitors.history(id, q.before, q.after, limit)?)).await?;
    let next_before = if rows.len() == limit {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(Json(serde_json::json!({
        "monitor": id, "history": rows, "next_before": next_before
    }))
    .into_response())
}
