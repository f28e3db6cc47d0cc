//! Entra ID bearer tokens on the identity routes: raw HTTP in, status and the service's 401
//! shape out, one test per reason a token is refused, and the ways to get a token (in-process,
//! the `/emulator/entraToken` admin route, the binary's `--entra-app`).

mod common;

use std::process::Command;

use acs_chat_emulator::auth::entra::EntraTokenOptions;
use acs_chat_emulator::{hmac, Emulator};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{TimeDelta, Utc};
use common::{agent, enc, Client, Reply};
use serde_json::{json, Value};

const APP: &str = "6b1c2a4e-1111-4222-8333-944455556666";
const IDENTITY_VERSION: &str = "2023-10-01";

fn emulator() -> Emulator {
    Emulator::builder()
        .entra_app(APP)
        .start()
        .expect("emulator")
}

/// A client that sends `Authorization: Bearer <token>` (and nothing else to authenticate).
fn bearer(emu: &Emulator, token: &str) -> Client {
    Client {
        agent: agent(),
        base: emu.endpoint(),
        user: String::new(),
        token: token.to_owned(),
    }
}

/// `POST /identities` with `token` as the bearer.
fn create_identity(emu: &Emulator, token: &str) -> Reply {
    bearer(emu, token).call("POST", "/identities", IDENTITY_VERSION, Some(&json!({})))
}

/// Asserts a 401 in the Entra shape whose message mentions `needle`, and that the body does
/// not echo the token.
fn assert_refused(reply: &Reply, token: &str, needle: &str) {
    reply.expect_error(401, "InvalidAuthenticationToken");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(needle),
        "expected {needle:?} in the message, saw {message:?}"
    );
    if token.len() > 8 {
        assert!(
            !reply.text.contains(token),
            "the body echoes the token: {}",
            reply.text
        );
    }
}

/// Sends `method path` with a JSON body, signed with the emulator's access key (HMAC).
fn signed(emu: &Emulator, method: &str, path: &str, body: &Value) -> Reply {
    let key = STANDARD.decode(emu.access_key()).expect("base64 key");
    let host = emu.endpoint().trim_start_matches("http://").to_string();
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let bytes = body.to_string().into_bytes();
    let hash = hmac::content_hash(&bytes);
    let signature = hmac::sign(
        &key,
        &hmac::string_to_sign(method, path, &date, &host, &hash),
    );
    let c = bearer(emu, "");
    c.send_raw(
        method,
        &c.url(path),
        Some(bytes),
        &[
            ("x-ms-date", &date),
            ("x-ms-content-sha256", &hash),
            ("Authorization", &hmac::authorization_header(&signature)),
        ],
    )
}

/// A configured app's token creates a user, issues and revokes its token and deletes it.
#[test]
fn entra_token_accepted_on_identity_routes() {
    let emu = emulator();
    let token = emu.entra_token(APP);
    let created = create_identity(&emu, &token);
    created.expect(201);
    let user = created.json()["identity"]["id"]
        .as_str()
        .expect("an identity id")
        .to_owned();
    let c = bearer(&emu, &token);
    let issued = c.call(
        "POST",
        &format!("/identities/{}/:issueAccessToken", enc(&user)),
        IDENTITY_VERSION,
        Some(&json!({"scopes": ["chat"]})),
    );
    issued.expect(200);
    let chat_token = issued.json()["token"].as_str().expect("token").to_owned();
    bearer(&emu, &chat_token).get("/chat/threads").expect(200);
    c.call(
        "POST",
        &format!("/identities/{}/:revokeAccessTokens", enc(&user)),
        IDENTITY_VERSION,
        None,
    )
    .expect(204);
    c.call(
        "DELETE",
        &format!("/identities/{}", enc(&user)),
        IDENTITY_VERSION,
        None,
    )
    .expect(204);
}

/// A token for another audience (e.g. Microsoft Graph) is a 401.
#[test]
fn entra_token_wrong_audience_rejected() {
    let emu = emulator();
    let mut options = EntraTokenOptions::new(APP);
    options.audience = "https://graph.microsoft.com".into();
    let token = emu.entra_token_with(&options);
    assert_refused(&create_identity(&emu, &token), &token, "audience");
}

/// An expired token is a 401.
#[test]
fn entra_token_expired_rejected() {
    let emu = emulator();
    let mut options = EntraTokenOptions::new(APP);
    options.issued_at = Utc::now() - TimeDelta::hours(2);
    options.not_before = options.issued_at;
    options.expires_on = Utc::now() - TimeDelta::seconds(5);
    let token = emu.entra_token_with(&options);
    assert_refused(&create_identity(&emu, &token), &token, "expired");
}

/// A token whose `nbf` is still to come is a 401.
#[test]
fn entra_token_not_yet_valid_rejected() {
    let emu = emulator();
    let mut options = EntraTokenOptions::new(APP);
    options.not_before = Utc::now() + TimeDelta::minutes(30);
    options.expires_on = Utc::now() + TimeDelta::hours(2);
    let token = emu.entra_token_with(&options);
    assert_refused(&create_identity(&emu, &token), &token, "not yet valid");
}

/// A token from another tenant is a 401.
#[test]
fn entra_token_other_tenant_rejected() {
    let emu = emulator();
    let mut options = EntraTokenOptions::new(APP);
    options.tenant = Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into());
    let token = emu.entra_token_with(&options);
    assert_refused(&create_identity(&emu, &token), &token, "issuer");
}

/// A token whose payload was changed after signing, or signed by another emulator, is a 401.
#[test]
fn entra_token_bad_signature_rejected() {
    let emu = emulator();
    let token = emu.entra_token(APP);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).expect("base64url"))
        .expect("utf-8")
        .replace("\"exp\":", "\"exp\":1");
    parts[1] = URL_SAFE_NO_PAD.encode(payload);
    let forged = parts.join(".");
    assert_refused(&create_identity(&emu, &forged), &forged, "signature");

    let other = emulator();
    let foreign = other.entra_token(APP);
    assert_refused(&create_identity(&emu, &foreign), &foreign, "signature");
}

/// A valid token of an app the emulator was not configured with is a 401.
#[test]
fn entra_token_unknown_app_rejected() {
    let emu = emulator();
    let token = emu.entra_token("00000000-0000-0000-0000-00000000beef");
    assert_refused(&create_identity(&emu, &token), &token, "application");
    let unconfigured = Emulator::start().expect("emulator");
    let token = unconfigured.entra_token(APP);
    assert_refused(
        &create_identity(&unconfigured, &token),
        &token,
        "application",
    );
}

/// Garbage, `alg: none` and an ACS user token as the bearer are each a 401, never a panic.
#[test]
fn entra_token_malformed_rejected() {
    let emu = emulator();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"aud":"https://communication.azure.com","appid":"{APP}"}}"#
        ))
    );
    for token in [
        "x",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "....",
        "%%%.%%%.%%%",
        none.as_str(),
    ] {
        assert_refused(&create_identity(&emu, token), token, "malformed");
    }
    // Signed with the resource key, not the Entra secret.
    let (_, user_token) = emu.user_with_token();
    assert_refused(&create_identity(&emu, &user_token), &user_token, "");
    // The process is still serving.
    create_identity(&emu, &emu.entra_token(APP)).expect(201);
}

/// Chat routes keep accepting only ACS user tokens: an Entra token is a 401 there.
#[test]
fn entra_token_rejected_on_chat_routes() {
    let emu = emulator();
    let reply = bearer(&emu, &emu.entra_token(APP)).get("/chat/threads");
    reply.expect(401);
}

/// `POST /emulator/entraToken` (HMAC-signed) mints a token in Entra's token-endpoint shape for
/// a configured app, refuses others with 400 and unsigned callers with 401.
#[test]
fn admin_route_mints_entra_token() {
    let emu = emulator();
    let reply = signed(&emu, "POST", "/emulator/entraToken", &json!({"appId": APP}));
    reply.expect(200);
    let v = reply.json();
    assert_eq!(v["token_type"], "Bearer", "{v}");
    assert_eq!(v["expires_in"], 3600, "{v}");
    let token = v["access_token"].as_str().expect("access_token").to_owned();
    create_identity(&emu, &token).expect(201);

    let unknown = signed(
        &emu,
        "POST",
        "/emulator/entraToken",
        &json!({"appId": "nope"}),
    );
    unknown.expect_error(400, "BadRequest");
    let missing = signed(&emu, "POST", "/emulator/entraToken", &json!({}));
    missing.expect_error(400, "BadRequest");
    let c = bearer(&emu, &token);
    let unsigned = c.send_url(
        "POST",
        &c.url("/emulator/entraToken"),
        Some(&json!({"appId": APP})),
    );
    unsigned.expect(401);
}

/// Tokens minted before a restart on the same data directory still verify after it (the
/// signing secret derives from the stored access key).
#[test]
fn entra_token_survives_restart_on_data_dir() {
    let dir = std::env::temp_dir().join(format!("acs-entra-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let token = {
        let first = Emulator::builder()
            .data_dir(&dir)
            .entra_app(APP)
            .start()
            .expect("first start");
        first.entra_token(APP)
    };
    let again = Emulator::builder()
        .data_dir(&dir)
        .entra_app(APP)
        .start()
        .expect("second start");
    create_identity(&again, &token).expect(201);
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The binary lists `--entra-app` in `--help`, and with it serves identity calls authorized
/// by a token from the admin route.
#[test]
fn binary_entra_app_flag_accepts_minted_token() {
    let help = Command::new(env!("CARGO_BIN_EXE_acs-chat-emulator"))
        .arg("--help")
        .output()
        .expect("run the emulator binary");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--entra-app"), "--help: {text}");

    let (mut child, ready) =
        common::start_binary(&["--entra-app", APP, "--entra-app", "second-app"]);
    let cs = ready["connection_string"]
        .as_str()
        .expect("connection string");
    let endpoint = ready["endpoint"].as_str().expect("endpoint").to_owned();
    let key = cs.rsplit("accesskey=").next().expect("key").to_owned();
    // Signed for the child's host with its key.
    let body = json!({"appId": "second-app"});
    let bytes = body.to_string().into_bytes();
    let host = endpoint.trim_start_matches("http://").to_owned();
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let hash = hmac::content_hash(&bytes);
    let signature = hmac::sign(
        &STANDARD.decode(&key).expect("base64 key"),
        &hmac::string_to_sign("POST", "/emulator/entraToken", &date, &host, &hash),
    );
    let c = Client {
        agent: agent(),
        base: endpoint.clone(),
        user: String::new(),
        token: String::new(),
    };
    let minted = c.send_raw(
        "POST",
        &c.url("/emulator/entraToken"),
        Some(bytes),
        &[
            ("x-ms-date", &date),
            ("x-ms-content-sha256", &hash),
            ("Authorization", &hmac::authorization_header(&signature)),
        ],
    );
    minted.expect(200);
    let token = minted.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let created =
        c.with_token(&token)
            .call("POST", "/identities", IDENTITY_VERSION, Some(&json!({})));
    created.expect(201);
    let _ = child.kill();
    let _ = child.wait();
}
