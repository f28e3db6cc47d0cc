//! Replays every recorded exchange of the official SDKs' test suites (`../shared/recordings`,
//! or the folder in `ACS_RECORDINGS_DIR`) through the models: each response body decodes and
//! re-encodes with nothing lost or changed, each request body the client would send decodes
//! into the request models and re-encodes to the same JSON, and error bodies parse.
//!
//! Exchanges are routed by method and path, never by file name, so recordings from suites not
//! seen before are checked the same way.

#[allow(dead_code)] // this test crate uses only some of the shared helpers
mod common;
#[path = "recordings/replay.rs"]
mod replay;

use std::path::{Path, PathBuf};

use replay::{route, Body, Report};
use serde_json::Value;

/// Every `.json` file under `dir`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// One recorded request and its response, whatever the recording format.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub uri: String,
    pub status: u16,
    pub request: Body,
    pub response: Body,
}

/// Reads both formats: test-proxy `Entries` and legacy Java `networkCallRecords`.
fn exchanges(recording: &Value) -> Option<Vec<Exchange>> {
    let status = |v: Option<&Value>| -> u16 {
        match v {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(entries) = recording.get("Entries").and_then(Value::as_array) {
        return Some(
            entries
                .iter()
                .map(|e| Exchange {
                    method: text(e.get("RequestMethod")),
                    uri: text(e.get("RequestUri")),
                    status: status(e.get("StatusCode")),
                    request: Body::from_recorded(e.get("RequestBody")),
                    response: Body::from_recorded(e.get("ResponseBody")),
                })
                .collect(),
        );
    }
    if let Some(records) = recording
        .get("networkCallRecords")
        .and_then(Value::as_array)
    {
        return Some(
            records
                .iter()
                .map(|r| {
                    let response = r.get("Response");
                    Exchange {
                        method: text(r.get("Method")),
                        uri: text(r.get("Uri")),
                        status: status(response.and_then(|x| x.get("StatusCode"))),
                        // Legacy records keep no request bodies.
                        request: Body::Empty,
                        response: Body::from_recorded(response.and_then(|x| x.get("Body"))),
                    }
                })
                .collect(),
        );
    }
    None
}

/// Loads every recording for `suite`, or says why there are none (a failure under CI).
fn load_all(suite: &str) -> Option<Vec<(String, Vec<Exchange>)>> {
    let dir = common::fixtures::dir(suite, &common::fixtures::RECORDINGS)?;
    let mut out = Vec::new();
    for path in json_files(&dir) {
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => panic!("cannot read recording {name}: {e}"),
        };
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!("recording {name} is not JSON: {e}"),
        };
        match exchanges(&value) {
            Some(list) => out.push((name, list)),
            None => println!("not a recording (no Entries or networkCallRecords), skipped: {name}"),
        }
    }
    Some(out)
}

/// The `api-version` query parameter of a URL.
fn api_version(uri: &str) -> Option<String> {
    let (_, query) = replay::split_url(uri);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("api-version="))
        .map(replay::percent_decode)
}

/// Whether an api-version predates chat's first stable version (2021-03-07).
fn is_pre_ga(version: &str) -> bool {
    version.get(..10).is_some_and(|date| date < "2021-03-07")
}

/// Every recorded chat body decodes and re-encodes without losing or changing anything.
#[test]
fn recordings_round_trip_through_models() {
    let Some(recordings) = load_all("recordings_round_trip_through_models") else {
        return;
    };
    let mut report = Report::default();
    let (mut chat, mut other, mut unimplemented) = (0usize, 0usize, 0usize);
    for (name, list) in &recordings {
        for (i, exchange) in list.iter().enumerate() {
            let at = format!("{name} #{i} {} {}", exchange.method, exchange.uri);
            let Some(op) = route(&exchange.method, &exchange.uri) else {
                let (segments, _) = replay::split_url(&exchange.uri);
                if segments.first().map(String::as_str) == Some("chat") {
                    unimplemented += 1;
                    report.note(format!(
                        "{} {} is not an operation of the stable chat API (not checked)",
                        exchange.method,
                        segments
                            .get(3)
                            .map_or("/chat/…", |_| "/chat/threads/{id}/…")
                    ));
                } else {
                    other += 1;
                }
                continue;
            };
            chat += 1;
            let version = api_version(&exchange.uri);
            if exchange.status < 400 && version.as_deref().is_some_and(is_pre_ga) {
                // Pre-GA previews used other shapes (multi-status creates, `createdBy`
                // strings, `members`); the client speaks none of them. Their error bodies
                // are still checked below.
                report.note(format!(
                    "api-version {} is a pre-GA preview: success bodies not checked",
                    version.unwrap_or_default()
                ));
                continue;
            }
            if exchange.status < 400 {
                replay::check_request(&mut report, &at, op, &exchange.request);
            }
            replay::check_response(&mut report, &at, op, exchange.status, &exchange.response);
        }
    }
    println!(
        "{} recordings: {chat} chat exchanges checked, {unimplemented} to chat routes outside the stable API, {other} non-chat exchanges (identity: see recordings_identity_responses_decode)",
        recordings.len()
    );
    report.print("recordings");
    assert!(
        chat > 0,
        "no chat exchange found in {} recordings",
        recordings.len()
    );
    assert!(
        report.failures.is_empty(),
        "{} failures:\n{}",
        report.failures.len(),
        report.failures.join("\n")
    );
}

/// For each recorded page with a `nextLink`, the pager resumed from that link (as its
/// continuation token) sends the request the next recorded exchange made: the same path and
/// the same query (in any order, with the client's api-version), on the client's own host.
#[test]
fn recordings_next_links_resume_as_recorded() {
    let Some(recordings) = load_all("recordings_next_links_resume_as_recorded") else {
        return;
    };
    let server = replay::CaptureServer::start();
    let mut failures = Vec::new();
    let (mut checked, mut against_next) = (0usize, 0usize);
    for (name, list) in &recordings {
        for (i, exchange) in list.iter().enumerate() {
            let Some(op) = route(&exchange.method, &exchange.uri) else {
                continue;
            };
            let Body::Json(body, _) = &exchange.response else {
                continue;
            };
            let Some(next_link) = body
                .get("nextLink")
                .and_then(Value::as_str)
                .filter(|l| !l.is_empty())
            else {
                continue;
            };
            let at = format!("{name} #{i}");
            // The request to expect: the next recorded exchange when it is the follow-up (same
            // operation and path, same query apart from api-version), else the link itself.
            let without_version = |url: &str| {
                let (path, query) = replay::split_url(url);
                let pairs: Vec<_> = replay::query_pairs(&query)
                    .into_iter()
                    .filter(|(k, _)| k != "api-version")
                    .collect();
                (path, pairs)
            };
            let expected = match list.get(i + 1) {
                Some(next)
                    if next.method.eq_ignore_ascii_case("GET")
                        && route(&next.method, &next.uri) == Some(op)
                        && without_version(&next.uri) == without_version(next_link) =>
                {
                    against_next += 1;
                    next.uri.clone()
                }
                _ => next_link.to_string(),
            };
            let (expected_path, expected_query) = replay::split_url(&expected);
            let expected_pairs = replay::query_pairs(&expected_query);
            let api_version = expected_pairs
                .iter()
                .find(|(k, _)| k == "api-version")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "2025-03-15".to_string());
            checked += 1;
            let sent = match replay::resume_from(&server, op, next_link, &api_version) {
                Ok(sent) => sent,
                Err(e) => {
                    failures.push(format!("{at}: {e}"));
                    continue;
                }
            };
            let [target] = sent.as_slice() else {
                failures.push(format!(
                    "{at}: expected one request, the pager sent {sent:?}"
                ));
                continue;
            };
            let (path, query) = replay::split_url(target);
            let pairs = replay::query_pairs(&query);
            if path != expected_path || pairs != expected_pairs {
                failures.push(format!(
                    "{at}: resumed request {target}\n  path  {path:?}\n  query {pairs:?}\n expected {expected}\n  path  {expected_path:?}\n  query {expected_pairs:?}"
                ));
            }
        }
    }
    println!("nextLink: {checked} recorded nextLinks resumed, {against_next} compared with the recorded follow-up request");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// What the identity client should do for one recorded identity exchange.
enum IdentityCall {
    CreateUser,
    CreateUserAndToken(Vec<String>, Option<u64>),
    GetToken(String, Vec<String>, Option<u64>),
    RevokeTokens(String),
    DeleteUser(String),
    ExchangeTeamsToken(String, String, String),
}

fn identity_call(exchange: &Exchange) -> Option<IdentityCall> {
    let (segments, _) = replay::split_url(&exchange.uri);
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body = match &exchange.request {
        Body::Json(v, _) => v.clone(),
        _ => Value::Null,
    };
    let strings = |key: &str| -> Vec<String> {
        body.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    // Legacy records keep no request bodies: issue for `chat`, as those suites did.
    let scopes_or_chat = |key: &str| {
        let scopes = strings(key);
        if scopes.is_empty() && body.is_null() {
            vec!["chat".to_string()]
        } else {
            scopes
        }
    };
    let minutes = body.get("expiresInMinutes").and_then(Value::as_u64);
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(
        match (exchange.method.to_ascii_uppercase().as_str(), s.as_slice()) {
            ("POST", ["identities"]) if strings("createTokenWithScopes").is_empty() => {
                IdentityCall::CreateUser
            }
            ("POST", ["identities"]) => {
                IdentityCall::CreateUserAndToken(strings("createTokenWithScopes"), minutes)
            }
            ("POST", ["identities", id, ":issueAccessToken"]) => {
                IdentityCall::GetToken(id.to_string(), scopes_or_chat("scopes"), minutes)
            }
            ("POST", ["identities", id, ":revokeAccessTokens"]) => {
                IdentityCall::RevokeTokens(id.to_string())
            }
            ("DELETE", ["identities", id]) => IdentityCall::DeleteUser(id.to_string()),
            ("POST", ["teamsUser", ":exchangeAccessToken"]) => {
                IdentityCall::ExchangeTeamsToken(text("token"), text("appId"), text("userId"))
            }
            _ => return None,
        },
    )
}

/// Every recorded identity response, served to the crate's identity client, decodes into what
/// the recording says (user id, token, expiry), and every recorded error becomes a service
/// error with the recorded status and code.
#[test]
fn recordings_identity_responses_decode() {
    use acs_chat::identity::{
        AzureKeyCredential, CommunicationIdentityClient, CommunicationIdentityClientOptions,
        CommunicationTokenScope,
    };
    use acs_chat::{AccessToken, CommunicationIdentifier};
    let Some(recordings) = load_all("recordings_identity_responses_decode") else {
        return;
    };
    let server = replay::CaptureServer::start();
    let mut failures = Vec::new();
    let (mut checked, mut skipped) = (0usize, 0usize);
    for (name, list) in &recordings {
        for (i, exchange) in list.iter().enumerate() {
            let Some(call) = identity_call(exchange) else {
                continue;
            };
            let at = format!("{name} #{i} {} {}", exchange.method, exchange.uri);
            let version = api_version(&exchange.uri).unwrap_or_default();
            if exchange.status < 400 && is_pre_ga(&version) {
                skipped += 1;
                continue;
            }
            let options = CommunicationIdentityClientOptions {
                api_version: version.clone(),
                transport_options: acs_chat::TransportOptions {
                    retry: acs_chat::RetryOptions::none(),
                    ..Default::default()
                },
                ..Default::default()
            };
            let client = match AzureKeyCredential::new("a2V5").and_then(|key| {
                CommunicationIdentityClient::with_options(&server.endpoint, key, options)
            }) {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{at}: cannot build an identity client: {e}"));
                    continue;
                }
            };
            let scopes = |names: &[String]| -> Result<Vec<CommunicationTokenScope>, String> {
                names
                    .iter()
                    .map(|n| n.parse().map_err(|e| format!("scope {n:?}: {e}")))
                    .collect()
            };
            let body = match &exchange.response {
                Body::Json(v, _) => v.to_string(),
                Body::Text(t) => t.clone(),
                Body::Empty => String::new(),
            };
            let recorded = match &exchange.response {
                Body::Json(v, _) => v.clone(),
                _ => Value::Null,
            };
            server.take_requests();
            server.answer(exchange.status, body);
            let lifetime = |m: Option<u64>| m.map(|m| std::time::Duration::from_secs(m * 60));
            // Sanitized recordings put `Sanitized` where the user id was; the id does not
            // matter for decoding the response, so it is sent as a communication user.
            let user = |id: &str| CommunicationIdentifier::communication_user(id);
            // What the client returned: (user id, token) where the call yields them.
            let outcome: Result<(Option<String>, Option<AccessToken>), acs_chat::Error> =
                match &call {
                    IdentityCall::CreateUser => {
                        client.create_user().map(|u| (Some(u.raw_id()), None))
                    }
                    IdentityCall::CreateUserAndToken(names, minutes) => match scopes(names) {
                        Ok(s) => client
                            .create_user_and_token(&s, lifetime(*minutes))
                            .map(|(u, t)| (Some(u.raw_id()), Some(t))),
                        Err(e) => {
                            failures.push(format!("{at}: {e}"));
                            continue;
                        }
                    },
                    IdentityCall::GetToken(id, names, minutes) => match scopes(names) {
                        Ok(s) => client
                            .get_token(&user(id), &s, lifetime(*minutes))
                            .map(|t| (None, Some(t))),
                        Err(e) => {
                            failures.push(format!("{at}: {e}"));
                            continue;
                        }
                    },
                    IdentityCall::RevokeTokens(id) => {
                        client.revoke_tokens(&user(id)).map(|()| (None, None))
                    }
                    IdentityCall::DeleteUser(id) => {
                        client.delete_user(&user(id)).map(|()| (None, None))
                    }
                    IdentityCall::ExchangeTeamsToken(token, app, user_id) => client
                        .get_token_for_teams_user(token, app, user_id)
                        .map(|t| (None, Some(t))),
                };
            let sent = server.take_requests();
            if sent.len() != 1 {
                let why = outcome.err().map(|e| e.to_string()).unwrap_or_default();
                failures.push(format!(
                    "{at}: the client sent {} requests instead of one ({why})",
                    sent.len()
                ));
                continue;
            }
            checked += 1;
            // The body our identity client sent must be the recorded one (when recorded). No
            // body and `{}` mean the same for create-user (Python sends none, Java and .NET `{}`).
            let empty_object = |v: &Value| v.as_object().is_some_and(|o| o.is_empty());
            if let Body::Json(recorded_request, _) = &exchange
                .request
                .clone()
                .filter(|v| !empty_object(v) || !sent[0].body.is_empty())
            {
                let ours: Value = if sent[0].body.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&sent[0].body).unwrap_or(Value::Null)
                };
                let differences =
                    replay::diff(recorded_request, &ours, replay::Nulls::AbsentEqualsNull);
                if !differences.is_empty() {
                    failures.push(format!(
                        "{at}: request body differs: {}",
                        differences.join("; ")
                    ));
                }
            }
            match outcome {
                Ok(_) if exchange.status >= 400 => {
                    failures.push(format!(
                        "{at}: recorded status {} but the call succeeded",
                        exchange.status
                    ));
                }
                Err(e) if exchange.status < 400 => {
                    failures.push(format!("{at}: the recorded response failed to decode: {e}"))
                }
                Err(e) => {
                    let want = recorded
                        .as_object()
                        .and_then(|o| {
                            o.get("error")
                                .or_else(|| o.get("Error"))
                                .or_else(|| o.get("CommunicationError"))
                        })
                        .and_then(|inner| inner.get("code").or_else(|| inner.get("Code")))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    match e.service_error() {
                        Some(se) if se.status == exchange.status && se.code == want => {}
                        other => failures.push(format!(
                            "{at}: expected service error {} {want:?}, got {other:?} ({e})",
                            exchange.status
                        )),
                    }
                }
                Ok((id, token)) => {
                    let recorded_id = recorded
                        .pointer("/identity/id")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    if id.is_some() && id != recorded_id {
                        failures.push(format!("{at}: user id {id:?}, recorded {recorded_id:?}"));
                    }
                    let recorded_token = recorded.get("accessToken").unwrap_or(&recorded);
                    if let Some(token) = token {
                        let want_token = recorded_token
                            .get("token")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let want_expiry = recorded_token
                            .get("expiresOn")
                            .and_then(Value::as_str)
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                        if token.token != want_token
                            || want_expiry.map(|w| w.with_timezone(&chrono::Utc))
                                != Some(token.expires_on)
                        {
                            failures.push(format!(
                                "{at}: token/expiry decoded as {:?}, recorded {want_expiry:?}",
                                token.expires_on
                            ));
                        }
                    }
                }
            }
        }
    }
    println!("identity: {checked} recorded identity responses replayed through the identity client, {skipped} pre-GA skipped");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The fixture lookup prefers the environment variable, then the first existing candidate, and
/// says which folders it tried when there is none.
#[test]
fn fixture_lookup_resolves_env_then_candidates() {
    use common::fixtures::{resolve, Fixture};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = Fixture {
        what: "test folders",
        env_var: "NO_SUCH_FIXTURE_DIR",
        candidates: &["no/such/folder", "tests", "src"],
    };
    let found = resolve(&fixture, None, root);
    assert_eq!(found, Ok(root.join("tests")), "first existing candidate");
    let from_env = resolve(&fixture, Some(root.join("src").into()), root);
    assert_eq!(from_env, Ok(root.join("src")), "the variable wins");
    let bad_env = resolve(&fixture, Some("no/such/folder".into()), root);
    assert!(
        bad_env
            .as_ref()
            .is_err_and(|why| why.contains("NO_SUCH_FIXTURE_DIR=no/such/folder")),
        "a variable naming no folder: {bad_env:?}"
    );
    let none = Fixture {
        candidates: &["no/such/folder"],
        ..fixture
    };
    let why = resolve(&none, None, root);
    assert!(
        why.as_ref()
            .is_err_and(|why| why.contains("no/such/folder") && why.contains("NO_SUCH_FIXTURE_DIR")),
        "no folder: {why:?}"
    );
}

/// Under CI a missing fixture folder fails the suite; outside CI it is a skip that says why.
#[test]
fn fixture_missing_fails_under_ci_and_skips_outside() {
    use common::fixtures::{is_ci, missing};
    for (value, want) in [
        (Some("true"), true),
        (Some("1"), true),
        (Some("TRUE"), true),
        (Some("false"), false),
        (Some("0"), false),
        (Some(""), false),
        (None, false),
    ] {
        let os = value.map(std::ffi::OsString::from);
        assert_eq!(is_ci(os.as_ref()), want, "CI={value:?}");
    }
    assert_eq!(missing::<()>("suite", "things", "gone", false), None);
    let under_ci = std::panic::catch_unwind(|| missing::<()>("suite", "things", "gone", true));
    let message = under_ci
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        message.contains("suite") && message.contains("gone") && message.contains("CI"),
        "under CI the panic says what is missing: {message:?}"
    );
}

/// The round-trip check itself fails when re-encoding loses or changes anything: recorded
/// messages, participants and read receipts re-encoded through a mutated encoder (a member
/// dropped, a nested identifier member dropped, a string changed) are all reported, and an
/// unknown `null` member that is lost (which the JSON diff treats as absent) is caught by
/// the decode → encode → decode comparison.
#[test]
fn recordings_round_trip_fails_on_lost_or_changed_fields() {
    use acs_chat::{ChatMessage, ChatMessageReadReceipt, ChatParticipant};
    use replay::{round_trip_with, Nulls, Operation};
    let Some(recordings) = load_all("recordings_round_trip_fails_on_lost_or_changed_fields") else {
        return;
    };
    let mut items: Vec<(Operation, Value)> = Vec::new();
    for exchange in recordings.iter().flat_map(|(_, list)| list) {
        let (Some(op), Body::Json(body, _)) =
            (route(&exchange.method, &exchange.uri), &exchange.response)
        else {
            continue;
        };
        if exchange.status >= 300 || api_version(&exchange.uri).as_deref().is_some_and(is_pre_ga) {
            continue;
        }
        if let Some(list) = body.get("value").and_then(Value::as_array) {
            items.extend(list.iter().map(|item| (op, item.clone())));
        }
    }
    assert!(!items.is_empty(), "no recorded list items to mutate");
    fn drop_first_member(v: &mut Value) {
        if let Some(key) = v.as_object().and_then(|o| o.keys().next().cloned()) {
            v.as_object_mut().map(|o| o.remove(&key));
        }
    }
    fn drop_raw_id(v: &mut Value) -> bool {
        match v {
            Value::Object(o) if o.contains_key("rawId") => o.remove("rawId").is_some(),
            Value::Object(o) => o.values_mut().any(drop_raw_id),
            Value::Array(a) => a.iter_mut().any(drop_raw_id),
            _ => false,
        }
    }
    fn change_a_string(v: &mut Value) -> bool {
        match v {
            Value::String(s) => {
                s.push('x');
                true
            }
            Value::Object(o) => o.values_mut().any(change_a_string),
            Value::Array(a) => a.iter_mut().any(change_a_string),
            _ => false,
        }
    }
    type Mutation = fn(&mut Value);
    let mutations: [(&str, Mutation); 4] = [
        ("none", |_| {}),
        ("drop the first member", drop_first_member),
        ("drop a rawId", |v| {
            drop_raw_id(v);
        }),
        ("change a string", |v| {
            change_a_string(v);
        }),
    ];
    for (name, mutate) in mutations {
        let mut report = Report::default();
        for (i, (op, item)) in items.iter().enumerate() {
            let at = format!("item {i}");
            fn check<
                T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
            >(
                report: &mut Report,
                at: &str,
                item: &Value,
                mutate: Mutation,
            ) {
                round_trip_with::<T>(report, at, "item", item, Nulls::AbsentEqualsNull, |t| {
                    let mut v = serde_json::to_value(t)?;
                    mutate(&mut v);
                    Ok(v)
                });
            }
            match op {
                Operation::ListChatMessages => check::<ChatMessage>(&mut report, &at, item, mutate),
                Operation::ListChatParticipants => {
                    check::<ChatParticipant>(&mut report, &at, item, mutate)
                }
                Operation::ListChatReadReceipts => {
                    check::<ChatMessageReadReceipt>(&mut report, &at, item, mutate)
                }
                _ => continue,
            }
        }
        if name == "none" {
            assert!(
                report.failures.is_empty(),
                "unmutated: {:?}",
                report.failures
            );
            assert!(report.total() > 0, "no item was checked");
        } else {
            assert!(
                !report.failures.is_empty(),
                "mutation {name:?} went unnoticed over {} items",
                report.total()
            );
        }
    }
    // An unknown member that is `null`: the JSON diff counts a lost `null` as absent, the
    // second decode does not.
    let item = serde_json::json!({"id": "1", "type": "text", "sequenceId": "1", "version": "1",
        "createdOn": "2024-06-06T00:03:29Z", "futureField": null});
    let mut report = Report::default();
    round_trip_with::<ChatMessage>(
        &mut report,
        "null",
        "item",
        &item,
        Nulls::AbsentEqualsNull,
        |t| {
            let mut v = serde_json::to_value(t)?;
            v.as_object_mut().map(|o| o.remove("futureField"));
            Ok(v)
        },
    );
    assert_eq!(
        report.failures.len(),
        1,
        "a lost null member: {:?}",
        report.failures
    );
}
