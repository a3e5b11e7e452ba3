//! The OpenAPI document, generated from the handlers' annotations and the models' types, so it
//! cannot drift from the code. Served at `/v1/openapi.json`.

use std::sync::OnceLock;

use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Baton local API",
        description = "Share one desktop between many agents: a desktop lease with a fair queue. \
                       Loopback only; every route but /v1/health needs `Authorization: Bearer <token>` \
                       (the user token from the data directory, or a run token from submit).",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "desktop", description = "The desktop lease: status, stop, pause"),
        (name = "runs", description = "Runs: submit, heartbeat, finish, cancel, …"),
        (name = "history", description = "The history and the event log"),
        (name = "input", description = "Input, sent by Baton for the desktop holder only"),
        (name = "resources", description = "Named resources besides the desktop: read them; the person declares, resizes and removes them"),
        (name = "displays", description = "Private displays: a run that holds one of the pool 'displays' gets an X display of its own (Linux)"),
        (name = "schedules", description = "Schedule entries: commands the host runs through the queue when their cron expression fires, and their runs' logs"),
        (name = "host", description = "The host itself"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /v1/openapi.json`: [`document`], made once.
pub async fn serve() -> axum::Json<&'static Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    axum::Json(DOCUMENT.get_or_init(document))
}

/// The document as served: utoipa's, with what the annotations cannot say. Every bound is
/// taken from the constant the server enforces, so the two cannot drift; `make test` runs a
/// contract tester against a real host to hold the server to it.
pub fn document() -> Value {
    let mut api = ApiDoc::openapi();
    api.merge(crate::public_routes().into_openapi());
    api.merge(crate::protected_routes().into_openapi());
    let mut doc = serde_json::to_value(api).unwrap_or_default();
    constrain_schemas(&mut doc);
    constrain_parameters(&mut doc);
    list_statuses(&mut doc);
    optional_bodies(&mut doc);
    link_runs(&mut doc);
    link_schedules(&mut doc);
    doc
}

/// OpenAPI links: the entry `POST /v1/schedules` made is the `{name}` of every schedule route.
fn link_schedules(doc: &mut Value) {
    let links: serde_json::Map<String, Value> = ["edit", "remove", "pause", "resume", "run_now"]
        .iter()
        .map(|id| {
            (
                (*id).to_string(),
                json!({"operationId": id, "parameters": {"name": "$response.body#/name"}}),
            )
        })
        .collect();
    if let Some(created) = doc.pointer_mut("/paths/~1v1~1schedules/post/responses/201") {
        created["links"] = Value::Object(links);
    }
}

/// OpenAPI links: the run a route answers as `Submitted` (a submit, a replace) is the `{id}` of
/// every run route, so a client (or a contract tester) can follow a run through its life.
fn link_runs(doc: &mut Value) {
    let targets: Vec<String> = operations(doc)
        .filter(|operation| takes_run_id(operation))
        // Only a scheduled run has a log, and the runs these links come from are not.
        .filter(|operation| operation["operationId"] != "log")
        .filter_map(|operation| operation["operationId"].as_str().map(String::from))
        .collect();
    let links: serde_json::Map<String, Value> = targets
        .iter()
        .map(|id| {
            (
                id.clone(),
                json!({"operationId": id, "parameters": {"id": "$response.body#/run/id"}}),
            )
        })
        .collect();
    let submitted = json!("#/components/schemas/Submitted");
    for operation in operations(doc) {
        for response in operation["responses"]
            .as_object_mut()
            .into_iter()
            .flat_map(|responses| responses.values_mut())
        {
            if response.pointer("/content/application~1json/schema/$ref") == Some(&submitted) {
                response["links"] = Value::Object(links.clone());
            }
        }
    }
}

/// The largest unsigned number the API takes: sequence numbers, versions, tokens and times fit
/// a signed 64-bit integer, which is what clients generated from the document send.
pub const MAX_NUMBER: u64 = i64::MAX as u64;

fn text(max: usize, pattern: String, required: bool) -> Value {
    let mut rules = json!({"maxLength": max, "pattern": pattern});
    if required {
        rules["minLength"] = json!(1);
    }
    rules
}

fn constrain_schemas(doc: &mut Value) {
    use baton_core::lease::limits;
    use baton_core::text::text_pattern;
    let reason = || {
        text(
            limits::REASON_CHARS,
            text_pattern::optional_multi_line(),
            false,
        )
    };
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let rules = [
        (
            "RunSpec",
            "title",
            text(limits::TITLE_CHARS, text_pattern::one_line(), true),
        ),
        ("EntrySpec", "name", entry_name()),
        (
            "EntrySpec",
            "title",
            text(limits::TITLE_CHARS, text_pattern::one_line(), true),
        ),
        (
            "EntrySpec",
            "cron",
            // The shape only: whether each field's values are right is the host's to say.
            json!({
                "pattern": "^\\s*\\S+(\\s+\\S+){4,5}\\s*$",
                "maxLength": baton_core::schedule::limits::CRON_CHARS,
            }),
        ),
        (
            "EntrySpec",
            "command",
            json!({
                "minItems": 1,
                "maxItems": baton_core::schedule::limits::COMMAND_WORDS,
                "prefixItems": [{"type": "string", "pattern": "\\S"}],
                "items": {"type": "string", "pattern": "^[^\\u0000]*$"},
            }),
        ),
        (
            "EntrySpec",
            "resources",
            json!({"maxItems": baton_core::resource::limits::MAX_PER_RUN}),
        ),
        (
            "RunSpec",
            "client",
            text(limits::CLIENT_CHARS, text_pattern::one_line(), true),
        ),
        (
            "RunSpec",
            "ttl_ms",
            json!({"minimum": ms(limits::MIN_TTL), "maximum": ms(limits::MAX_TTL)}),
        ),
        (
            "AmendRequest",
            "text",
            text(limits::AMEND_CHARS, text_pattern::multi_line(), true),
        ),
        ("AmendRequest", "reason", reason()),
        ("ReasonRequest", "reason", reason()),
        ("StopRequest", "reason", reason()),
        ("FinishRequest", "note", reason()),
        (
            "RunSpec",
            "resources",
            json!({"maxItems": baton_core::resource::limits::MAX_PER_RUN}),
        ),
        (
            "AcquireRequest",
            "resources",
            json!({"maxItems": baton_core::resource::limits::MAX_PER_RUN}),
        ),
        (
            "AddResource",
            "capacity",
            json!({"minimum": 1, "maximum": baton_core::resource::limits::MAX_CAPACITY}),
        ),
        (
            "CapacityRequest",
            "capacity",
            json!({"minimum": 1, "maximum": baton_core::resource::limits::MAX_CAPACITY}),
        ),
        (
            "HeartbeatRequest",
            "inbox_after",
            json!({"format": "int64", "maximum": u32::MAX}),
        ),
        (
            "InputRequest",
            "lease_token",
            json!({"maximum": MAX_NUMBER}),
        ),
    ];
    for (schema, property, extra) in rules {
        if let Some(target) = doc.pointer_mut(&format!(
            "/components/schemas/{schema}/properties/{property}"
        )) {
            merge(target, extra);
        }
    }
    // The input actions, one schema per kind: a click's count is a byte, a wait's milliseconds
    // an unsigned number.
    let kinds = doc
        .pointer_mut("/components/schemas/Action/oneOf")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten();
    for kind in kinds {
        // Each kind takes its own fields only (serde's deny_unknown_fields).
        merge(kind, json!({"additionalProperties": false}));
        if let Some(count) = kind.pointer_mut("/properties/count") {
            merge(count, json!({"maximum": u8::MAX}));
        }
        if let Some(ms) = kind.pointer_mut("/properties/ms") {
            merge(ms, json!({"maximum": MAX_NUMBER}));
        }
    }
}

/// A schedule entry's name, as the core checks it.
fn entry_name() -> Value {
    let max = baton_core::schedule::limits::NAME_CHARS;
    json!({"pattern": format!("^[A-Za-z0-9._-]{{1,{max}}}$"), "minLength": 1, "maxLength": max})
}

fn constrain_parameters(doc: &mut Value) {
    // The `{name}` of the schedule routes (the resource routes' is a ResourceName already).
    for (path, methods) in doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flatten()
    {
        if !path.starts_with("/v1/schedules/{name}") {
            continue;
        }
        for parameter in methods
            .as_object_mut()
            .into_iter()
            .flat_map(|methods| methods.values_mut())
            .filter_map(|operation| operation.get_mut("parameters"))
            .filter_map(Value::as_array_mut)
            .flatten()
            .filter(|parameter| parameter["name"] == "name")
        {
            merge(&mut parameter["schema"], entry_name());
        }
    }
    let states: Vec<&str> = baton_core::RunState::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    for operation in operations(doc) {
        for parameter in operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let name = parameter["name"].as_str().unwrap_or_default().to_string();
            let extra = match name.as_str() {
                "id" => json!({"minimum": 1, "maximum": MAX_NUMBER}),
                "after" | "after_version" | "timeout_ms" => json!({"maximum": MAX_NUMBER}),
                "inbox_after" | "limit" => json!({"format": "int64", "maximum": u32::MAX}),
                "state" => json!({"enum": states}),
                _ => continue,
            };
            merge(&mut parameter["schema"], extra);
        }
    }
}

/// The answers of a route that asks the scheduler or the input gateway, when they cannot
/// answer: named in each such route's annotation. Described, never built: handlers answer
/// through [`crate::error::Error`].
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Failures {
    /// store_failed, or input_failed
    #[response(status = 500)]
    Internal(ErrorBody),
    /// shutting_down, or no_display
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// invalid_state: not in a state for this request
#[derive(utoipa::IntoResponses)]
#[response(status = 409)]
#[allow(dead_code)]
pub(crate) struct Conflict(ErrorBody);

/// too_many_runs: a cap on active runs is reached
#[derive(utoipa::IntoResponses)]
#[response(status = 429)]
#[allow(dead_code)]
pub(crate) struct TooMany(ErrorBody);

/// The statuses the shared layers and extractors answer, beside the ones each route's
/// annotation names. They follow from what the document already says of a route, never from
/// its path: a route that is not public checks the token (401); any route checks Host and
/// Origin (403); a run id in the path may be malformed (400) or unknown (404); parameters and
/// bodies may not decode (400); a body may be too large (413).
fn list_statuses(doc: &mut Value) {
    let error = json!({
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    });
    for operation in operations(doc) {
        let has = |what: &str| operation.get(what).is_some();
        let mut statuses = vec![(
            "403",
            "forbidden: a run token for another run, or a Host or Origin that is not this host's",
        )];
        // `security(())` in an annotation: a public route, which takes no token.
        if operation["security"] != json!([{}]) {
            statuses.push(("401", "unauthorized: no token, or not a token of this host"));
        }
        if takes_run_id(operation) {
            statuses.push((
                "400",
                "invalid_run_id, or a request this route does not take",
            ));
            statuses.push(("404", "unknown_run"));
        }
        if has("parameters") || has("requestBody") {
            statuses.push(("400", "a request this route does not take"));
        }
        if has("requestBody") {
            statuses.push(("413", "payload_too_large"));
        }
        let responses = &mut operation["responses"];
        for (status, description) in statuses {
            if responses.get(status).is_none() {
                let mut response = error.clone();
                response["description"] = json!(description);
                responses[status] = response;
            }
        }
    }
}

/// An annotation's `request_body = Option<T>` means the body may be left out, which is what
/// the extractor takes (an empty body reads as `{}`), not that it may be `null`, which it
/// refuses. utoipa writes the latter; this says the former.
fn optional_bodies(doc: &mut Value) {
    for operation in operations(doc) {
        let Some(body) = operation.get_mut("requestBody") else {
            continue;
        };
        let Some(schema) = body.pointer_mut("/content/application~1json/schema") else {
            continue;
        };
        let inner = match schema["oneOf"].as_array().map(Vec::as_slice) {
            Some([null, inner]) if *null == json!({"type": "null"}) => inner.clone(),
            _ => continue,
        };
        *schema = inner;
        body["required"] = json!(false);
    }
}

/// Whether an operation takes a run's id in its path.
fn takes_run_id(operation: &Value) -> bool {
    operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "id" && p["in"] == "path"))
}

/// Every operation of every path.
fn operations(doc: &mut Value) -> impl Iterator<Item = &mut Value> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|methods| methods.values_mut())
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}
