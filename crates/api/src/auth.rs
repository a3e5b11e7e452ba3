//! The two gates every request passes: the Host/Origin allowlist (against DNS rebinding and
//! browser pages), then bearer auth, which turns a token into the core's [`Caller`].

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use baton_core::auth::secrets_equal;
use baton_core::{Caller, ErrorCode, VIA_HEADER};

use crate::error::{Error, Result};
use crate::state::ApiState;

/// Refuses requests whose `Host` is not this server's loopback address, and requests a browser
/// sends from a web page (an `Origin` that is not loopback).
pub async fn guard_host(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Result<Response> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !state.host_allowed(host) {
        return Err(Error::HostNotAllowed(host.to_string()));
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("<not text>");
        let host_of_origin = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if !state.host_allowed(host_of_origin) {
            return Err(Error::OriginNotAllowed(origin.to_string()));
        }
    }
    Ok(next.run(req).await)
}

/// Requires `Authorization: Bearer <user token | run token>` and records who is asking.
pub async fn require_token(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Result<Response> {
    let caller = match caller(&state, req.headers()) {
        Ok(caller) => caller,
        // Refused before its body was read: the connection cannot carry another request.
        Err(e) => {
            let mut response = axum::response::IntoResponse::into_response(e);
            response.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            return Ok(response);
        }
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

fn caller(state: &ApiState, headers: &HeaderMap) -> Result<Caller> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(Error::Unauthorized)?;
    if secrets_equal(token, &state.user_token()) {
        return Ok(Caller::user(via(headers)?));
    }
    state
        .core
        .tokens()
        .verify(token)
        .map(Caller::Run)
        .ok_or(Error::Unauthorized)
}

fn via(headers: &HeaderMap) -> Result<String> {
    let Some(value) = headers.get(VIA_HEADER) else {
        return Ok("api".into());
    };
    let text = value.to_str().unwrap_or_default();
    let valid = (1..=32).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(text.to_string())
    } else {
        Err(Error::bad_request(
            ErrorCode::InvalidHeader,
            format!("{VIA_HEADER} must be 1 to 32 lower-case letters, digits, '-' or '_'"),
        ))
    }
}
