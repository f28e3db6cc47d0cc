//! Every example in `../shared/spec/chat-examples/<version>/` (or `$ACS_SPEC_DIR/chat-examples`)
//! goes through the models as the recordings do: request bodies decode into the request models
//! and re-encode unchanged, response bodies decode and re-encode with nothing lost or changed,
//! and error bodies parse. The operation of each example is found from the swagger file that
//! references it (`x-ms-examples`), not from its file name.

#[allow(dead_code)] // this test crate uses only some of the shared helpers
mod common;
#[path = "recordings/replay.rs"]
mod replay;

use std::path::{Path, PathBuf};

use replay::{route, Body, Report};
use serde_json::Value;

/// What the swagger says about one example: its method, path template and body parameter.
struct ExampleOperation {
    method: String,
    path: String,
    body_parameter: Option<String>,
}

/// Maps each example file name the swagger references to its operation.
fn referenced_examples(swagger: &Value) -> Vec<(String, ExampleOperation)> {
    let mut out = Vec::new();
    let Some(paths) = swagger.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, operations) in paths {
        let Some(operations) = operations.as_object() else {
            continue;
        };
        for (method, operation) in operations {
            let Some(examples) = operation.get("x-ms-examples").and_then(Value::as_object) else {
                continue;
            };
            let body_parameter = operation
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|p| p.get("in").and_then(Value::as_str) == Some("body"))
                .and_then(|p| p.get("name").and_then(Value::as_str))
                .map(str::to_string);
            for example in examples.values() {
                let Some(reference) = example.get("$ref").and_then(Value::as_str) else {
                    continue;
                };
                let file = reference
                    .rsplit('/')
                    .next()
                    .unwrap_or(reference)
                    .to_string();
                out.push((
                    file,
                    ExampleOperation {
                        method: method.to_ascii_uppercase(),
                        path: path.clone(),
                        body_parameter: body_parameter.clone(),
                    },
                ));
            }
        }
    }
    out
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Paths of members that the models did not recognise (kept in `additional_properties`).
/// Swagger examples hold only fields the swagger defines, so any such member means a model
/// misses (or misnames) a field of the spec.
fn unrecognised(op: replay::Operation, body: &Value) -> Vec<String> {
    use acs_chat::{
        ChatMessage, ChatMessageReadReceipt, ChatParticipant, ChatThreadInfo, ChatThreadProperties,
        SendChatMessageResult,
    };
    use replay::Operation::*;
    fn keys(at: &str, map: &serde_json::Map<String, Value>, out: &mut Vec<String>) {
        out.extend(map.keys().map(|k| format!("{at}.{k}")));
    }
    fn message(at: &str, m: &ChatMessage, out: &mut Vec<String>) {
        keys(at, &m.additional_properties, out);
        if let Some(c) = &m.content {
            keys(&format!("{at}.content"), &c.additional_properties, out);
            for (i, p) in c.participants.iter().flatten().enumerate() {
                keys(
                    &format!("{at}.content.participants[{i}]"),
                    &p.additional_properties,
                    out,
                );
            }
            for (i, a) in c.attachments.iter().flatten().enumerate() {
                keys(
                    &format!("{at}.content.attachments[{i}]"),
                    &a.additional_properties,
                    out,
                );
            }
        }
    }
    fn decode<T: serde::de::DeserializeOwned>(value: Option<&Value>) -> Option<T> {
        value.and_then(|v| serde_json::from_value(v.clone()).ok())
    }
    let items = body.get("value");
    let mut out = Vec::new();
    match op {
        ListChatMessages => {
            for (i, m) in decode::<Vec<ChatMessage>>(items)
                .iter()
                .flatten()
                .enumerate()
            {
                message(&format!("$.value[{i}]"), m, &mut out);
            }
        }
        GetChatMessage => {
            if let Some(m) = decode::<ChatMessage>(Some(body)) {
                message("$", &m, &mut out);
            }
        }
        ListChatParticipants => {
            for (i, p) in decode::<Vec<ChatParticipant>>(items)
                .iter()
                .flatten()
                .enumerate()
            {
                keys(&format!("$.value[{i}]"), &p.additional_properties, &mut out);
            }
        }
        ListChatReadReceipts => {
            for (i, r) in decode::<Vec<ChatMessageReadReceipt>>(items)
                .iter()
                .flatten()
                .enumerate()
            {
                keys(&format!("$.value[{i}]"), &r.additional_properties, &mut out);
            }
        }
        ListChatThreads => {
            for (i, t) in decode::<Vec<ChatThreadInfo>>(items)
                .iter()
                .flatten()
                .enumerate()
            {
                keys(&format!("$.value[{i}]"), &t.additional_properties, &mut out);
            }
        }
        GetChatThreadProperties => {
            if let Some(t) = decode::<ChatThreadProperties>(Some(body)) {
                keys("$", &t.additional_properties, &mut out);
            }
        }
        CreateChatThread => {
            if let Some(t) = decode::<ChatThreadProperties>(body.get("chatThread")) {
                keys("$.chatThread", &t.additional_properties, &mut out);
            }
        }
        SendChatMessage => {
            if let Some(r) = decode::<SendChatMessageResult>(Some(body)) {
                keys("$", &r.additional_properties, &mut out);
            }
        }
        _ => {}
    }
    out
}

/// The same for a request body.
fn unrecognised_request(op: replay::Operation, body: &Value) -> Vec<String> {
    use acs_chat::models::requests::*;
    use acs_chat::ChatParticipant;
    use replay::Operation::*;
    fn top<T: serde::de::DeserializeOwned>(
        body: &Value,
        get: impl Fn(&T) -> &serde_json::Map<String, Value>,
    ) -> Vec<String> {
        serde_json::from_value::<T>(body.clone())
            .map(|t| get(&t).keys().map(|k| format!("$.{k}")).collect())
            .unwrap_or_default()
    }
    fn participants(list: &[ChatParticipant]) -> Vec<String> {
        list.iter()
            .enumerate()
            .flat_map(|(i, p)| {
                p.additional_properties
                    .keys()
                    .map(move |k| format!("$.participants[{i}].{k}"))
            })
            .collect()
    }
    match op {
        CreateChatThread => {
            let mut out = top::<CreateChatThreadRequest>(body, |r| &r.additional_properties);
            if let Ok(r) = serde_json::from_value::<CreateChatThreadRequest>(body.clone()) {
                out.extend(participants(r.participants.as_deref().unwrap_or_default()));
            }
            out
        }
        AddChatParticipants => {
            let mut out = top::<AddChatParticipantsRequest>(body, |r| &r.additional_properties);
            if let Ok(r) = serde_json::from_value::<AddChatParticipantsRequest>(body.clone()) {
                out.extend(participants(&r.participants));
            }
            out
        }
        UpdateChatThreadProperties => {
            top::<UpdateChatThreadRequest>(body, |r| &r.additional_properties)
        }
        SendChatMessage => top::<SendChatMessageRequest>(body, |r| &r.additional_properties),
        UpdateChatMessage => top::<UpdateChatMessageRequest>(body, |r| &r.additional_properties),
        SendChatReadReceipt => top::<SendReadReceiptRequest>(body, |r| &r.additional_properties),
        SendTypingNotification => {
            top::<SendTypingNotificationRequest>(body, |r| &r.additional_properties)
        }
        _ => Vec::new(),
    }
}

/// Resumes the list from an example's `nextLink` (as continuation token) and checks that the
/// pager asks the client's own host for the link's path and query.
fn check_next_link(
    report: &mut Report,
    server: &replay::CaptureServer,
    at: &str,
    op: replay::Operation,
    link: &str,
) {
    let (expected_path, expected_query) = replay::split_url(link);
    let expected = replay::query_pairs(&expected_query);
    let version = expected
        .iter()
        .find(|(k, _)| k == "api-version")
        .map_or_else(|| "2025-03-15".to_string(), |(_, v)| v.clone());
    match replay::resume_from(server, op, link, &version) {
        Ok(sent) => match sent.as_slice() {
            [target] => {
                let (path, query) = replay::split_url(target);
                if path == expected_path && replay::query_pairs(&query) == expected {
                    report.count("nextLink resumed as the link says");
                } else {
                    report.fail(at, format!("resuming from {link} sent {target}"));
                }
            }
            other => report.fail(at, format!("resuming from {link} sent {other:?}")),
        },
        Err(e) => report.fail(at, format!("resuming from {link}: {e}")),
    }
}

/// Every swagger example's bodies survive the models unchanged.
#[test]
fn spec_examples_round_trip_through_models() {
    const SUITE: &str = "spec_examples_round_trip_through_models";
    let Some(dir) = common::fixtures::dir(SUITE, &common::fixtures::SPEC) else {
        return;
    };
    let examples_root = dir.join("chat-examples");
    let versions = match std::fs::read_dir(&examples_root) {
        Ok(versions) => versions,
        Err(e) => {
            let why = format!("{} cannot be read: {e}", examples_root.display());
            let ci = common::fixtures::is_ci(std::env::var_os("CI").as_ref());
            common::fixtures::missing::<()>(SUITE, common::fixtures::SPEC.what, &why, ci);
            return;
        }
    };
    let mut versions: Vec<PathBuf> = versions
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    versions.sort();
    let mut report = Report::default();
    let mut checked = 0usize;
    let server = replay::CaptureServer::start();
    for version_dir in versions {
        let version = version_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let swagger_path = dir.join(format!("chat-{version}.json"));
        if !swagger_path.is_file() {
            println!(
                "skipped chat-examples/{version}: no swagger {}",
                swagger_path.display()
            );
            continue;
        }
        let operations = referenced_examples(&read_json(&swagger_path));
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&version_dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                println!(
                    "skipped chat-examples/{version}/{name}/: examples the swagger does not reference (not part of the stable API)"
                );
                continue;
            }
            let Some((_, operation)) = operations.iter().find(|(file, _)| *file == name) else {
                println!(
                    "skipped chat-examples/{version}/{name}: the swagger does not reference it"
                );
                continue;
            };
            let url = operation
                .path
                .replace("{chatThreadId}", "19:t@thread.v2")
                .replace("{chatMessageId}", "1");
            let at = format!("{version}/{name} ({} {})", operation.method, operation.path);
            let Some(op) = route(&operation.method, &url) else {
                report.fail(
                    &at,
                    "the swagger operation is not one the client implements",
                );
                continue;
            };
            checked += 1;
            let example = read_json(&path);
            if let Some(parameter) = &operation.body_parameter {
                let body =
                    Body::from_recorded(example.get("parameters").and_then(|p| p.get(parameter)));
                replay::check_request(&mut report, &at, op, &body);
                if let Body::Json(json, _) = &body {
                    let unknown = unrecognised_request(op, json);
                    if unknown.is_empty() {
                        report.count("request with every member known to the models");
                    } else {
                        report.fail(
                            &at,
                            format!("request members the models do not know: {unknown:?}"),
                        );
                    }
                }
            }
            let Some(responses) = example.get("responses").and_then(Value::as_object) else {
                report.fail(&at, "example has no responses");
                continue;
            };
            for (status, response) in responses {
                let Ok(status) = status.parse::<u16>() else {
                    report.fail(&at, format!("response status {status:?} is not a number"));
                    continue;
                };
                let body = Body::from_recorded(response.get("body"));
                if let Body::Json(page, _) = &body {
                    if let Some(link) = page.get("nextLink").and_then(Value::as_str) {
                        check_next_link(&mut report, &server, &at, op, link);
                    }
                    if status < 300 {
                        let unknown = unrecognised(op, page);
                        if unknown.is_empty() {
                            report.count("response with every member known to the models");
                        } else {
                            report.fail(
                                &at,
                                format!("response members the models do not know: {unknown:?}"),
                            );
                        }
                    }
                }
                replay::check_response(&mut report, &format!("{at} {status}"), op, status, &body);
            }
        }
    }
    println!("{checked} spec examples checked");
    report.print("spec examples");
    assert!(
        checked > 0,
        "no spec example found under {}",
        examples_root.display()
    );
    assert!(
        report.failures.is_empty(),
        "{} failures:\n{}",
        report.failures.len(),
        report.failures.join("\n")
    );
}
