//! Extractors whose rejections speak the API's error format instead of axum's plain text.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use baton_core::{ErrorCode, RunId};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A JSON body. A missing (empty) body reads as `{}`, so requests whose fields are all optional
/// can be sent without one; any content type is accepted (bearer auth, not content type, is what keeps
/// browsers out).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(from_bytes_rejection)?;
        // No body at all is no fields (the document marks such bodies optional); anything else
        // must be JSON, and whitespace alone is not.
        let text: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        let refused = |e: serde_json::Error| {
            let code = if e.is_syntax() || e.is_eof() {
                ErrorCode::InvalidJson
            } else {
                ErrorCode::InvalidRequest
            };
            Error::bad_request(
                code,
                format!("the request body is not what this route takes: {e}"),
            )
        };
        let mut value: serde_json::Value = serde_json::from_slice(text).map_err(refused)?;
        // Every body is an object: serde would also take a struct's fields as an array.
        if !value.is_object() {
            return Err(Error::bad_request(
                ErrorCode::InvalidRequest,
                "the request body is not what this route takes: send a JSON object",
            ));
        }
        whole_numbers(&mut value);
        serde_json::from_value(value).map(Body).map_err(refused)
    }
}

/// JSON has one kind of number: `3.0` is the integer 3 to JSON Schema, and so to every client
/// generated from the API's document. Such numbers are read as the integers they are.
fn whole_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Below 2^63 in size every whole f64 is exactly an i64.
            if f.fract() == 0.0 && f.abs() < 2f64.powi(63) {
                #[allow(clippy::cast_possible_truncation)]
                let whole = f as i64;
                *value = Value::from(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// A number the API's document bounds at [`crate::openapi::MAX_NUMBER`].
pub fn bounded(value: u64, name: &str) -> Result<u64, Error> {
    if value <= crate::openapi::MAX_NUMBER {
        Ok(value)
    } else {
        Err(Error::bad_request(
            ErrorCode::InvalidQuery,
            format!(
                "{name} is at most {}, not {value}",
                crate::openapi::MAX_NUMBER
            ),
        ))
    }
}

fn from_bytes_rejection(rejection: BytesRejection) -> Error {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        Error::BadRequest {
            code: ErrorCode::UnreadableBody,
            status,
            message: rejection.body_text(),
        }
    }
}

fn too_large() -> Error {
    Error::BadRequest {
        code: ErrorCode::PayloadTooLarge,
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "the request body is too large: at most {} KiB",
            crate::BODY_LIMIT / 1024
        ),
    }
}

/// Query parameters.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| {
                Error::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("bad query parameters: {}", e.body_text()),
                )
            })
    }
}

/// A route's one path parameter as text; a path that does not decode is refused with `code`.
pub async fn path_text<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    code: ErrorCode,
) -> Result<String, Error> {
    let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|e: PathRejection| Error::bad_request(code, e.body_text()))?;
    Ok(raw)
}

/// The `{id}` of a run route.
#[derive(Debug, Clone, Copy)]
pub struct RunPath(pub RunId);

impl<S> FromRequestParts<S> for RunPath
where
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_text(parts, state, ErrorCode::InvalidRunId).await?;
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(|id| RunPath(RunId(id)))
            .ok_or_else(|| {
                Error::bad_request(
                    ErrorCode::InvalidRunId,
                    format!("'{raw}' is not a run id: run ids are positive whole numbers"),
                )
            })
    }
}

/// Reads an authorized request's whole body (up to [`crate::BODY_LIMIT`]) before its handler
/// looks at it, so a handler that refuses without reading it (a bad path, a wrong state) still
/// leaves the connection clean for the client's next request: hyper closes a keep-alive
/// connection whose body was left unread, and the client's next request on it would fail.
/// Requests refused before it (no token, no route, a bad host) are answered with
/// `Connection: close` instead, their body never read.
pub async fn read_whole_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, crate::BODY_LIMIT).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Err(_) => axum::response::IntoResponse::into_response(too_large()),
    }
}
