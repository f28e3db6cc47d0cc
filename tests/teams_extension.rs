//! The identity client's Teams Extension operations (identity api-version 2026-09-23): against
//! the emulator (happy paths, 404, bad ids, the api-version gate), and every example in
//! `../shared/spec/identity-examples/2026-09-23/` replayed through the client against a
//! loopback server that answers with the example's response.

#[allow(dead_code)] // this test crate uses only some of the shared helpers
mod common;

use std::sync::mpsc;
use std::time::Duration;

use acs_chat::identity::{
    AzureKeyCredential, CommunicationIdentityClient, CommunicationIdentityClientOptions,
    TeamsExtensionAssignmentRequest, TeamsExtensionExchangeRequest, TeamsExtensionPrincipalType,
    DEFAULT_IDENTITY_API_VERSION,
};
use acs_chat::{CommunicationIdentifier, Error, RetryOptions};
use acs_chat_emulator::Emulator;
use serde_json::{json, Value};

const TENANT: &str = "c70d068c-2f32-484d-9455-73070cd5aadd";
const OBJECT: &str = "b27b64b9-39d2-44a3-869d-67700b74e805";

fn client(emu: &Emulator) -> CommunicationIdentityClient {
    CommunicationIdentityClient::from_connection_string(&emu.connection_string()).expect("client")
}

/// A client of the loopback server at `base` that sends each call once, on `api_version`.
fn client_without_retries(base: &str, api_version: &str) -> CommunicationIdentityClient {
    let options = CommunicationIdentityClientOptions {
        api_version: api_version.into(),
        transport_options: acs_chat::TransportOptions {
            retry: RetryOptions::none(),
            ..Default::default()
        },
        ..Default::default()
    };
    CommunicationIdentityClient::with_options(
        base,
        AzureKeyCredential::new("a2V5").expect("key"),
        options,
    )
    .expect("client")
}

/// A JWT-shaped Teams Phone token with these claims (the emulator does not check signatures).
fn teams_phone_token(claims: &Value) -> String {
    common::fixtures::unsigned_jwt(&claims.to_string())
}

fn exchange_request(token: &str) -> TeamsExtensionExchangeRequest {
    let mut request = TeamsExtensionExchangeRequest::default();
    request.properties.insert("token".into(), token.into());
    request
}

/// The default identity api-version is the newest stable one in the spec folder.
#[test]
fn default_api_version_is_newest_stable() {
    assert_eq!(DEFAULT_IDENTITY_API_VERSION, "2026-09-23");
}

/// Create answers 201 (created), a second put 200 (replaced), get reads it back, delete
/// removes it and a get afterwards is the service's 404.
#[test]
fn assignment_lifecycle_round_trips() {
    let emu = Emulator::start().expect("emulator");
    let client = client(&emu);
    let first = TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::ResourceAccount);
    let (seen, created) = client
        .create_or_update_teams_extension_assignment(TENANT, OBJECT, &first)
        .expect("create");
    assert!(created, "first put did not report a creation: {seen:?}");
    assert_eq!(
        (
            seen.tenant_id.as_str(),
            seen.object_id.as_str(),
            &seen.principal_type,
            &seen.client_ids
        ),
        (
            TENANT,
            OBJECT,
            &TeamsExtensionPrincipalType::ResourceAccount,
            &None
        ),
        "created assignment"
    );
    let second = TeamsExtensionAssignmentRequest {
        client_ids: Some(vec!["app-1".into(), "app-2".into()]),
        ..TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::User)
    };
    let (seen, created) = client
        .create_or_update_teams_extension_assignment(TENANT, OBJECT, &second)
        .expect("replace");
    assert!(!created, "second put reported a creation: {seen:?}");
    let got = client
        .get_teams_extension_assignment(TENANT, OBJECT)
        .expect("get");
    assert_eq!(got, seen, "get after replace");
    assert_eq!(got.principal_type, TeamsExtensionPrincipalType::User);
    assert_eq!(got.client_ids, second.client_ids, "client ids kept");
    client
        .delete_teams_extension_assignment(TENANT, OBJECT)
        .expect("delete");
    let err = client
        .get_teams_extension_assignment(TENANT, OBJECT)
        .expect_err("gone after delete");
    assert_eq!(err.status(), Some(404), "get after delete: {err}");
    client
        .delete_teams_extension_assignment(TENANT, OBJECT)
        .expect("a repeated delete succeeds (204), so a retried delete does too");
}

/// A missing assignment is a 404 service error with the service's code.
#[test]
fn get_assignment_missing_is_not_found() {
    let emu = Emulator::start().expect("emulator");
    let err = client(&emu)
        .get_teams_extension_assignment(TENANT, "00000000-0000-0000-0000-000000000000")
        .expect_err("no assignment");
    match &err {
        Error::Service(e) => assert_eq!((e.status, e.code.as_str()), (404, "NotFound")),
        other => panic!("expected a service error, got {other:?}"),
    }
}

/// The exchange needs an assignment; with one it returns the tenant/object identity and a
/// token that the emulator's chat authentication accepts, the same identity every time.
#[test]
fn exchange_token_issues_token_for_assigned_user() {
    let emu = Emulator::start().expect("emulator");
    let client = client(&emu);
    let token = teams_phone_token(
        &json!({"tid": TENANT, "oid": OBJECT, "appid": "app-1", "exp": 4_102_444_800_i64}),
    );
    let err = client
        .exchange_teams_extension_token(&exchange_request(&token))
        .expect_err("no assignment yet");
    assert_eq!(
        err.status(),
        Some(403),
        "exchange without assignment: {err}"
    );

    let assignment = TeamsExtensionAssignmentRequest {
        client_ids: Some(vec!["app-1".into()]),
        ..TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::User)
    };
    client
        .create_or_update_teams_extension_assignment(TENANT, OBJECT, &assignment)
        .expect("assign");
    let result = client
        .exchange_teams_extension_token(&exchange_request(&token))
        .expect("exchange");
    let want_suffix = format!("_{TENANT}_{OBJECT}");
    assert!(
        result.identity.raw_id().starts_with("8:acs:")
            && result.identity.raw_id().ends_with(&want_suffix),
        "identity {}",
        result.identity.raw_id()
    );
    let access = result.access_token.clone().expect("an access token");
    // The chat routes verify the token as one of theirs and refuse it only for its scope
    // (Teams Phone is calling: a voip token), where a token they did not issue is invalid.
    let chat = common::chat_client(&emu.endpoint(), &access.token);
    let err = chat
        .list_chat_threads(None)
        .next()
        .expect("a page")
        .expect_err("voip token on chat");
    assert!(
        err.to_string().contains("chat scope"),
        "exchanged token on a chat route: {err}"
    );
    let forged = common::chat_client(&emu.endpoint(), &token);
    let err = forged
        .list_chat_threads(None)
        .next()
        .expect("a page")
        .expect_err("foreign token");
    assert!(
        err.status() == Some(401) && !err.to_string().contains("chat scope"),
        "Teams Phone token itself on a chat route: {err}"
    );
    let again = client
        .exchange_teams_extension_token(&exchange_request(&token))
        .expect("second exchange");
    assert_eq!(again.identity, result.identity, "exchange is deterministic");

    let other_app = teams_phone_token(&json!({"tid": TENANT, "oid": OBJECT, "appid": "app-9"}));
    let err = client
        .exchange_teams_extension_token(&exchange_request(&other_app))
        .expect_err("app not among clientIds");
    assert_eq!(err.status(), Some(403), "other app: {err}");
    let expired = teams_phone_token(&json!({"tid": TENANT, "oid": OBJECT, "exp": 1}));
    let err = client
        .exchange_teams_extension_token(&exchange_request(&expired))
        .expect_err("expired token");
    assert_eq!(err.status(), Some(401), "expired: {err}");
    let err = client
        .exchange_teams_extension_token(&TeamsExtensionExchangeRequest::default())
        .expect_err("no token member");
    assert_eq!(err.status(), Some(400), "empty body: {err}");
}

/// With an api-version older than 2025-06-30 every new operation fails with a typed error
/// naming that version, and nothing reaches the server.
#[test]
fn teams_extension_ops_with_old_api_version_fail_before_request() {
    let (tx, rx) = mpsc::channel();
    let base = common::serve(move |_, request| {
        let _ = tx.send(request.target);
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .to_owned()
    });
    let client = client_without_retries(&base, "2023-10-01");
    let assignment = TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::User);
    let results = [
        client
            .get_teams_extension_assignment(TENANT, OBJECT)
            .map(drop),
        client
            .create_or_update_teams_extension_assignment(TENANT, OBJECT, &assignment)
            .map(drop),
        client.delete_teams_extension_assignment(TENANT, OBJECT),
        client
            .exchange_teams_extension_token(&TeamsExtensionExchangeRequest::default())
            .map(drop),
    ];
    for result in results {
        match result {
            Err(Error::InvalidArgument {
                name: "api_version",
                reason,
            }) => assert!(
                reason.contains("2023-10-01") && reason.contains("2025-06-30"),
                "reason: {reason}"
            ),
            other => panic!("expected an api_version InvalidArgument, got {other:?}"),
        }
    }
    // A sentinel call from a client on the default version: the first request the server
    // saw must be it, so none of the gated calls got through.
    let current = client_without_retries(&base, DEFAULT_IDENTITY_API_VERSION);
    let sentinel = current.delete_teams_extension_assignment(TENANT, "sentinel");
    assert_eq!(
        sentinel.err().and_then(|e| e.status()),
        Some(500),
        "sentinel call"
    );
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the sentinel arrived");
    assert!(
        first.contains("/assignments/sentinel?api-version=2026-09-23"),
        "first request the server saw: {first}"
    );
}

/// Empty or control-character ids and client ids are refused by name, before any request.
#[test]
fn teams_extension_bad_ids_fail_before_request() {
    let emu = Emulator::start().expect("emulator");
    let client = client(&emu);
    let name_of = |e: Error| match e {
        Error::InvalidArgument { name, .. } => name,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    let user = TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::User);
    assert_eq!(
        name_of(
            client
                .get_teams_extension_assignment("", OBJECT)
                .unwrap_err()
        ),
        "tenant_id"
    );
    assert_eq!(
        name_of(
            client
                .delete_teams_extension_assignment(TENANT, " ")
                .unwrap_err()
        ),
        "object_id"
    );
    assert_eq!(
        name_of(
            client
                .create_or_update_teams_extension_assignment(TENANT, "a\nb", &user)
                .unwrap_err()
        ),
        "object_id"
    );
    let bad_client = TeamsExtensionAssignmentRequest {
        client_ids: Some(vec![String::new()]),
        ..user.clone()
    };
    assert_eq!(
        name_of(
            client
                .create_or_update_teams_extension_assignment(TENANT, OBJECT, &bad_client)
                .unwrap_err()
        ),
        "client_ids"
    );
    let empty_type =
        TeamsExtensionAssignmentRequest::new(TeamsExtensionPrincipalType::Unknown(String::new()));
    assert_eq!(
        name_of(
            client
                .create_or_update_teams_extension_assignment(TENANT, OBJECT, &empty_type)
                .unwrap_err()
        ),
        "principal_type"
    );
    // An id with a slash is one encoded segment: it reaches the emulator as that id.
    let err = client
        .get_teams_extension_assignment(TENANT, "a/b")
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "slash id: {err}");
}

/// What a replayed example's server saw.
struct Seen {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// Every 2026-09-23 identity example, replayed through the client: the request it sends
/// matches the example's method, path, api-version and body, and the example's response
/// decodes into what the client returns. An example of an operation this suite does not
/// know fails the test, so a new example cannot go unreplayed.
#[test]
fn identity_2026_examples_replay_through_client() {
    const SUITE: &str = "identity_2026_examples_replay_through_client";
    let Some(spec) = common::fixtures::dir(SUITE, &common::fixtures::SPEC) else {
        return;
    };
    let folder = spec.join("identity-examples/2026-09-23");
    let files = common::fixtures::json_files(&folder);
    for file in &files {
        let example: Value =
            serde_json::from_slice(&std::fs::read(file).expect("read example")).expect("JSON");
        let op = example["operationId"]
            .as_str()
            .expect("operationId")
            .to_owned();
        let params = &example["parameters"];
        assert_eq!(params["api-version"], "2026-09-23", "{}", file.display());
        let (status, body) = example["responses"]
            .as_object()
            .and_then(|r| r.iter().next())
            .map(|(s, r)| (s.parse::<u16>().expect("status"), r.get("body").cloned()))
            .expect("a response");
        let (tx, rx) = mpsc::channel();
        let reply_body = body.as_ref().map(Value::to_string).unwrap_or_default();
        let base = common::serve(move |_, request| {
            let _ = tx.send(Seen {
                method: request.method,
                target: request.target,
                body: request.body,
            });
            format!(
                "HTTP/1.1 {status} Replayed\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply_body}",
                reply_body.len()
            )
        });
        let client = client_without_retries(&base, DEFAULT_IDENTITY_API_VERSION);
        let text = |name: &str| params[name].as_str().unwrap_or_default().to_owned();
        let assignment_path = format!(
            "/access/teamsExtension/tenants/{}/assignments/{}",
            text("tenantId"),
            text("objectId")
        );
        let user_path = format!("/identities/{}", text("id").replace(':', "%3A"));
        let (method, path) = match op.as_str() {
            "IdentityOperations_Delete" => {
                client
                    .delete_user(&CommunicationIdentifier::communication_user(text("id")))
                    .expect("delete user");
                ("DELETE", user_path)
            }
            "IdentityOperations_RevokeAccessTokens" => {
                client
                    .revoke_tokens(&CommunicationIdentifier::communication_user(text("id")))
                    .expect("revoke");
                ("POST", format!("{user_path}/:revokeAccessTokens"))
            }
            "TeamsExtensionOperations_DeleteAssignment" => {
                client
                    .delete_teams_extension_assignment(&text("tenantId"), &text("objectId"))
                    .expect("delete assignment");
                ("DELETE", assignment_path)
            }
            "TeamsExtensionOperations_GetAssignment" => {
                let got = client
                    .get_teams_extension_assignment(&text("tenantId"), &text("objectId"))
                    .expect("get assignment");
                let want = body.as_ref().expect("a response body");
                assert_eq!(got.object_id, want["objectId"], "objectId");
                assert_eq!(got.tenant_id, want["tenantId"], "tenantId");
                assert_eq!(
                    got.principal_type.as_str(),
                    want["principalType"],
                    "principalType"
                );
                assert_eq!(
                    got.client_ids.is_some(),
                    want.get("clientIds").is_some(),
                    "clientIds"
                );
                assert!(
                    got.additional_properties.is_empty(),
                    "unknown members: {got:?}"
                );
                ("GET", assignment_path)
            }
            "TeamsExtensionOperations_ExchangeToken" => {
                let request = TeamsExtensionExchangeRequest {
                    properties: params["body"].as_object().cloned().expect("object body"),
                };
                let got = client
                    .exchange_teams_extension_token(&request)
                    .expect("exchange");
                let want = body.as_ref().expect("a response body");
                assert_eq!(got.identity.raw_id(), want["identity"]["id"], "identity");
                let token = got.access_token.expect("an access token");
                assert_eq!(token.token, want["accessToken"]["token"], "token");
                assert_eq!(
                    token.expires_on,
                    chrono::DateTime::parse_from_rfc3339(
                        want["accessToken"]["expiresOn"].as_str().expect("text")
                    )
                    .expect("time"),
                    "expiresOn"
                );
                (
                    "POST",
                    "/access/teamsExtension/:exchangeAccessToken".to_owned(),
                )
            }
            "TeamsUserOperations_ExchangeTeamsUserAccessToken" => {
                let b = &params["body"];
                let got = client
                    .get_token_for_teams_user(
                        b["token"].as_str().expect("token"),
                        b["appId"].as_str().expect("appId"),
                        b["userId"].as_str().expect("userId"),
                    )
                    .expect("teams user exchange");
                let want = body.as_ref().expect("a response body");
                assert_eq!(got.token, want["token"], "token");
                ("POST", "/teamsUser/:exchangeAccessToken".to_owned())
            }
            other => panic!("{}: no replay for operation {other}", file.display()),
        };
        let seen = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the client sent a request");
        assert_eq!(
            (seen.method.as_str(), seen.target.as_str()),
            (method, format!("{path}?api-version=2026-09-23").as_str()),
            "{op}: request line"
        );
        if let Some(want) = params.get("body") {
            let sent: Value = serde_json::from_slice(&seen.body).expect("a JSON body");
            assert_eq!(&sent, want, "{op}: request body");
        }
    }
    common::fixtures::report_replayed(SUITE, &files);
}
