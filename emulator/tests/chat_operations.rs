//! Wire-level tests of the 16 chat operations: raw HTTP in; status, headers and JSON shape out.

mod common;

use acs_chat_emulator::Emulator;
use common::{enc, participant, Client, V2024};
use serde_json::{json, Value};

fn is_whole_second_utc(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 20 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

fn messages(c: &Client, tid: &str) -> Vec<Value> {
    c.walk(
        &format!("/chat/threads/{}/messages?maxPageSize=200", enc(tid)),
        V2024,
    )
    .0
}

/// Create thread: 201, Location with `%3A` and a literal `@`, service headers and ids.
#[test]
fn create_thread_returns_201_with_location_and_shape() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let r = c.post(
        "/chat/threads",
        &json!({"topic": "Lunch", "participants": [participant(&c.user, "Jane")]}),
    );
    r.expect(201);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let cv = r.header("ms-cv").unwrap_or("");
    assert!(cv.len() == 24 && cv.ends_with(".0"), "MS-CV {cv:?}");
    let v = r.json();
    let t = &v["chatThread"];
    let id = t["id"].as_str().expect("id");
    assert!(
        id.starts_with("19:") && id.ends_with("@thread.v2") && id.len() == 3 + 44 + 10,
        "thread id {id}"
    );
    assert_eq!(t["topic"], "Lunch");
    assert!(
        is_whole_second_utc(&t["createdOn"]),
        "createdOn {}",
        t["createdOn"]
    );
    assert_eq!(
        t["createdByCommunicationIdentifier"]["rawId"],
        c.user.as_str()
    );
    assert!(v.get("invalidParticipants").is_none(), "{v}");
    assert!(
        t.get("metadata").is_none() && t.get("retentionPolicy").is_none(),
        "{t}"
    );
    let expected = format!("{}/chat/threads/{}", emu.endpoint(), id.replace(':', "%3A"));
    assert_eq!(r.header("location"), Some(expected.as_str()));
}

/// Create thread emits participantAdded (seq 1) then topicUpdated (seq 2), initiator = creator.
#[test]
fn create_thread_emits_system_messages() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let other = emu.create_user();
    let tid = c.create_thread("Topic A", &[&other]);
    let list = messages(&c, &tid);
    assert_eq!(list.len(), 2, "{list:?}");
    let (topic, added) = (&list[0], &list[1]);
    assert_eq!(added["type"], "participantAdded");
    assert_eq!(added["sequenceId"], "1");
    let ids: Vec<&str> = added["content"]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter_map(|p| p["communicationIdentifier"]["rawId"].as_str())
        .collect();
    assert_eq!(ids, vec![c.user.as_str(), other.as_str()]);
    assert_eq!(
        added["content"]["initiatorCommunicationIdentifier"]["rawId"],
        c.user.as_str()
    );
    assert!(
        added.get("senderCommunicationIdentifier").is_none(),
        "{added}"
    );
    assert_eq!(topic["type"], "topicUpdated");
    assert_eq!(topic["sequenceId"], "2");
    assert_eq!(topic["content"]["topic"], "Topic A");
}

/// The same repeatability-request-id from the same caller returns the same thread.
#[test]
fn create_thread_with_same_repeatability_id_returns_same_thread() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let body = json!({"topic": "Once", "participants": []})
        .to_string()
        .into_bytes();
    let url = c.url(&format!("/chat/threads?api-version={V2024}"));
    let h = [(
        "repeatability-request-id",
        "5b1b7a3e-2b9e-4f5f-9d5e-3c0f1d2a1b00",
    )];
    let a = c.send_raw("POST", &url, Some(body.clone()), &h);
    let b = c.send_raw("POST", &url, Some(body.clone()), &h);
    a.expect(201);
    b.expect(201);
    assert_eq!(a.json()["chatThread"]["id"], b.json()["chatThread"]["id"]);
    let other = Client::new(&emu);
    let d = other.send_raw("POST", &url, Some(body), &h);
    assert_ne!(
        a.json()["chatThread"]["id"],
        d.json()["chatThread"]["id"],
        "the id is per caller"
    );
    let (threads, _) = c.walk("/chat/threads", V2024);
    assert_eq!(threads.len(), 1, "{threads:?}");
}

/// Create thread rejects a missing topic and a non-JSON body with 400.
#[test]
fn create_thread_rejects_bad_bodies() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    c.post("/chat/threads", &json!({"participants": []}))
        .expect_error(400, "BadRequest");
    let url = c.url(&format!("/chat/threads?api-version={V2024}"));
    c.send_raw("POST", &url, Some(b"{not json".to_vec()), &[])
        .expect_error(400, "BadRequest");
    c.post(
        "/chat/threads",
        &json!({"topic": "t", "participants": [{"displayName": "x"}]}),
    )
    .expect_error(400, "BadRequest");
}

/// A user the resource never created lands in invalidParticipants (target = rawId).
#[test]
fn create_thread_reports_unknown_users_as_invalid_participants() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let ghost = "8:acs:00000000-0000-0000-0000-000000000000_ghost";
    let r = c.post(
        "/chat/threads",
        &json!({"topic": "t", "participants": [participant(&c.user, "me"), participant(ghost, "ghost")]}),
    );
    r.expect(201);
    let v = r.json();
    assert_eq!(
        v["invalidParticipants"],
        json!([{"target": ghost, "code": "404", "message": "Not found"}])
    );
}

/// Get thread works with raw and percent-encoded ids; unknown → 404; non-participant → 403.
#[test]
fn get_thread_accepts_raw_and_encoded_ids() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Raw", &[]);
    let raw = c.get(&format!("/chat/threads/{tid}"));
    raw.expect(200);
    let encoded = c.get(&format!("/chat/threads/{}", enc(&tid)));
    encoded.expect(200);
    assert_eq!(raw.json(), encoded.json());
    assert_eq!(raw.json()["id"], tid.as_str());
    c.get("/chat/threads/19%3A00000000000000000000000000000000%40thread.v2")
        .expect_error(404, "NotFound");
    Client::new(&emu)
        .get(&format!("/chat/threads/{}", enc(&tid)))
        .expect_error(403, "Forbidden");
}

/// Update topic: 204, new topic, topicUpdated system message with the initiator.
#[test]
fn update_thread_topic_returns_204_and_emits_topic_updated() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Old", &[]);
    let r = c.patch(
        &format!("/chat/threads/{}", enc(&tid)),
        &json!({"topic": "New"}),
    );
    r.expect(204);
    assert!(r.text.is_empty(), "204 body {:?}", r.text);
    assert_eq!(
        c.get(&format!("/chat/threads/{}", enc(&tid))).json()["topic"],
        "New"
    );
    let list = messages(&c, &tid);
    assert_eq!(list[0]["type"], "topicUpdated", "{:?}", list[0]);
    assert_eq!(list[0]["content"]["topic"], "New");
    assert_eq!(list[0]["sequenceId"], "3");
    assert_eq!(
        list[0]["content"]["initiatorCommunicationIdentifier"]["rawId"],
        c.user.as_str()
    );
    c.patch(&format!("/chat/threads/{}", enc(&tid)), &json!({}))
        .expect(204);
}

/// Delete thread: 204, then 404 on get; a repeated delete is 204 again.
#[test]
fn delete_thread_returns_204_then_thread_is_gone() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Doomed", &[]);
    let path = format!("/chat/threads/{}", enc(&tid));
    c.delete(&path).expect(204);
    c.get(&path).expect_error(404, "NotFound");
    c.delete(&path).expect(204);
    assert!(c.walk("/chat/threads", V2024).0.is_empty());
}

/// Send message: 201, Location, epoch-ms id; get returns the full shape.
#[test]
fn send_message_returns_201_and_get_returns_shape() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Msgs", &[]);
    let r = c.post(
        &format!("/chat/threads/{}/messages", enc(&tid)),
        &json!({"content": "Hello", "senderDisplayName": "Alice", "type": "text", "metadata": {"tag": "q"}}),
    );
    r.expect(201);
    let id = r.json()["id"].as_str().expect("id").to_string();
    let ms: i64 = id.parse().expect("numeric id");
    assert!(ms > 1_600_000_000_000, "epoch-ms id {id}");
    let loc = format!(
        "{}/chat/threads/{}/messages/{id}",
        emu.endpoint(),
        tid.replace(':', "%3A")
    );
    assert_eq!(r.header("location"), Some(loc.as_str()));
    let m = c.get(&format!("/chat/threads/{}/messages/{id}", enc(&tid)));
    m.expect(200);
    let m = m.json();
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["version"], id.as_str());
    assert_eq!(m["type"], "text");
    assert_eq!(m["sequenceId"], "3");
    assert_eq!(m["content"], json!({"message": "Hello", "attachments": []}));
    assert_eq!(m["senderDisplayName"], "Alice");
    assert_eq!(m["senderCommunicationIdentifier"]["rawId"], c.user.as_str());
    assert_eq!(
        m["senderCommunicationIdentifier"]["kind"],
        "communicationUser"
    );
    assert_eq!(m["metadata"], json!({"tag": "q"}));
    assert!(is_whole_second_utc(&m["createdOn"]), "{m}");
    assert!(
        m.get("editedOn").is_none() && m.get("deletedOn").is_none(),
        "{m}"
    );
}

/// A message without display name has `senderDisplayName: ""` and no metadata key.
#[test]
fn send_message_defaults_display_name_to_empty() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Msgs", &[]);
    let r = c.post(
        &format!("/chat/threads/{}/messages", enc(&tid)),
        &json!({"content": "<b>x</b>", "type": "html"}),
    );
    let id = r.json()["id"].as_str().expect("id").to_string();
    let m = c
        .get(&format!("/chat/threads/{}/messages/{id}", enc(&tid)))
        .json();
    assert_eq!(m["senderDisplayName"], "");
    assert_eq!(m["type"], "html");
    assert!(m.get("metadata").is_none(), "{m}");
    c.post(
        &format!("/chat/threads/{}/messages", enc(&tid)),
        &json!({"content": "x", "type": "topicUpdated"}),
    )
    .expect_error(400, "BadRequest");
}

/// Unknown and malformed message ids are 404.
#[test]
fn get_message_unknown_returns_404() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Msgs", &[]);
    for mid in ["1", "abc", "99999999999999999999999"] {
        c.get(&format!("/chat/threads/{}/messages/{mid}", enc(&tid)))
            .expect_error(404, "NotFound");
    }
}

/// Edit: 204, editedOn, version bumped, listed first; metadata merges, "" removes a key.
#[test]
fn update_message_edits_and_moves_to_top() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Edit", &[]);
    let path = format!("/chat/threads/{}/messages", enc(&tid));
    let first = c.post(
        &path,
        &json!({"content": "one", "metadata": {"a": "1", "b": "2"}}),
    );
    let first = first.json()["id"].as_str().expect("id").to_string();
    c.send(&tid, "two");
    c.patch(
        &format!("{path}/{first}"),
        &json!({"content": "one (edited)", "metadata": {"a": "", "c": "3"}}),
    )
    .expect(204);
    let m = c.get(&format!("{path}/{first}")).json();
    assert_eq!(m["content"]["message"], "one (edited)");
    assert_eq!(m["metadata"], json!({"b": "2", "c": "3"}));
    assert!(m["editedOn"].is_string(), "{m}");
    let version: i64 = m["version"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("version");
    let id: i64 = first.parse().expect("id");
    assert!(version > id, "version {version} not above id {id}");
    let list = messages(&c, &tid);
    assert_eq!(
        list[0]["id"],
        first.as_str(),
        "edited message is listed first"
    );
    let versions: Vec<i64> = list
        .iter()
        .map(|m| {
            m["version"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("version")
        })
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] > w[1]),
        "versions not strictly descending: {versions:?}"
    );
}

/// Only the sender may edit or delete a message (403 otherwise).
#[test]
fn update_message_by_other_user_is_forbidden() {
    let emu = Emulator::start().expect("emulator");
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    let tid = a.create_thread("Two", &[&b.user]);
    let mid = a.send(&tid, "mine");
    let path = format!("/chat/threads/{}/messages/{mid}", enc(&tid));
    b.patch(&path, &json!({"content": "yours"}))
        .expect_error(403, "Forbidden");
    b.delete(&path).expect_error(403, "Forbidden");
}

/// Delete: 204; the message stays listed with empty content and deletedOn.
#[test]
fn delete_message_keeps_it_listed_with_empty_content() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("Del", &[]);
    let mid = c.send(&tid, "bye");
    let path = format!("/chat/threads/{}/messages/{mid}", enc(&tid));
    c.delete(&path).expect(204);
    c.delete(&path).expect(204);
    let m = c.get(&path).json();
    assert_eq!(m["content"], json!({"message": "", "attachments": []}));
    assert!(m["deletedOn"].is_string(), "{m}");
    let list = messages(&c, &tid);
    assert_eq!(list[0]["id"], mid.as_str());
    assert_eq!(list.len(), 3);
}

/// shareHistoryTime hides older messages from a participant.
#[test]
fn list_messages_respects_share_history_time() {
    let emu = Emulator::start().expect("emulator");
    let a = Client::new(&emu);
    let b = Client::new(&emu);
    let tid = a.create_thread("History", &[]);
    let old = a.send(&tid, "before");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let share = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut p = participant(&b.user, "Late");
    p["shareHistoryTime"] = Value::from(share);
    a.post(
        &format!("/chat/threads/{}/participants/:add", enc(&tid)),
        &json!({"participants": [p]}),
    )
    .expect(201);
    let new = a.send(&tid, "after");
    let seen: Vec<String> = messages(&b, &tid)
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    assert!(seen.contains(&new), "b misses the new message: {seen:?}");
    assert!(
        !seen.contains(&old),
        "b sees history before shareHistoryTime: {seen:?}"
    );
    b.get(&format!("/chat/threads/{}/messages/{old}", enc(&tid)))
        .expect_error(404, "NotFound");
}

/// Participants: list, add (201 `{}`), add again (no-op), remove (204 + system message).
#[test]
fn participants_add_list_remove() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let b = Client::new(&emu);
    let tid = c.create_thread("P", &[]);
    let base = format!("/chat/threads/{}/participants", enc(&tid));
    let add = c.post(
        &format!("{base}/:add"),
        &json!({"participants": [participant(&b.user, "Bob")]}),
    );
    add.expect(201);
    assert_eq!(add.json(), json!({}));
    assert_eq!(add.header("content-length"), Some("2"));
    let seq_before = messages(&c, &tid).len();
    c.post(
        &format!("{base}/:add"),
        &json!({"participants": [participant(&b.user, "Bob")]}),
    )
    .expect(201);
    assert_eq!(
        messages(&c, &tid).len(),
        seq_before,
        "re-adding emitted a message"
    );
    let list = c.get(&base).json();
    let ids: Vec<&str> = list["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|p| p["communicationIdentifier"]["rawId"].as_str())
        .collect();
    assert_eq!(ids, vec![c.user.as_str(), b.user.as_str()]);
    assert_eq!(list["value"][1]["displayName"], "Bob");
    assert_eq!(list["value"][1]["shareHistoryTime"], "1970-01-01T00:00:00Z");
    let r = c.post(
        &format!("{base}/:remove"),
        &json!({"rawId": b.user, "communicationUser": {"id": b.user}}),
    );
    r.expect(204);
    let last = &messages(&c, &tid)[0];
    assert_eq!(last["type"], "participantRemoved");
    assert_eq!(
        last["content"]["participants"][0]["communicationIdentifier"]["rawId"],
        b.user.as_str()
    );
    b.get(&format!("/chat/threads/{}", enc(&tid)))
        .expect_error(403, "Forbidden");
}

/// Adding an unknown user reports it in invalidParticipants but adds the others.
#[test]
fn add_participants_reports_unknown_users() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let good = emu.create_user();
    let bad = "8:acs:invalid-1234";
    let tid = c.create_thread("P", &[]);
    let r = c.post(
        &format!("/chat/threads/{}/participants/:add", enc(&tid)),
        &json!({"participants": [participant(&good, "Good"), participant(bad, "Bad")]}),
    );
    r.expect(201);
    assert_eq!(
        r.json(),
        json!({"invalidParticipants": [{"target": bad, "code": "404", "message": "Not found"}]})
    );
    let list = c
        .get(&format!("/chat/threads/{}/participants", enc(&tid)))
        .json();
    assert_eq!(list["value"].as_array().map(Vec::len), Some(2), "{list}");
}

/// Read receipt: 200 with `Content-Length: 0`; only the latest per user is kept.
#[test]
fn read_receipts_keep_latest_per_user() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("R", &[]);
    let m1 = c.send(&tid, "one");
    let m2 = c.send(&tid, "two");
    let path = format!("/chat/threads/{}/readReceipts", enc(&tid));
    let r = c.post(&path, &json!({"chatMessageId": m1}));
    r.expect(200);
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.header("content-type").is_none(), "{:?}", r.headers);
    c.post(&path, &json!({"chatMessageId": m2})).expect(200);
    let list = c.get(&path).json();
    let value = list["value"].as_array().expect("value");
    assert_eq!(value.len(), 1, "{list}");
    assert_eq!(value[0]["chatMessageId"], m2.as_str());
    assert_eq!(
        value[0]["senderCommunicationIdentifier"]["rawId"],
        c.user.as_str()
    );
    assert!(is_whole_second_utc(&value[0]["readOn"]), "{list}");
    c.post(&path, &json!({"chatMessageId": "42"}))
        .expect_error(404, "NotFound");
}

/// Typing: 200 with an empty body, with or without a body.
#[test]
fn typing_returns_200_empty() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("T", &[]);
    let path = format!("/chat/threads/{}/typing", enc(&tid));
    let r = c.post(&path, &json!({"senderDisplayName": "John"}));
    r.expect(200);
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.text.is_empty());
    let url = c.url(&format!("{path}?api-version={V2024}"));
    c.send_raw("POST", &url, None, &[]).expect(200);
}

/// List threads: the caller's threads, newest activity first, with lastMessageReceivedOn.
#[test]
fn list_threads_orders_by_last_activity() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let t1 = c.create_thread("first", &[]);
    let t2 = c.create_thread("second", &[]);
    Client::new(&emu).create_thread("someone else's", &[]);
    c.send(&t1, "bump");
    let (items, _) = c.walk("/chat/threads", V2024);
    let ids: Vec<&str> = items.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, vec![t1.as_str(), t2.as_str()]);
    assert!(
        is_whole_second_utc(&items[0]["lastMessageReceivedOn"]),
        "{:?}",
        items[0]
    );
    assert_eq!(items[0]["topic"], "first");
}

/// Unknown paths and wrong methods answer explicit errors in the service's shape.
#[test]
fn unknown_routes_return_service_shaped_errors() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let tid = c.create_thread("R", &[]);
    c.get("/chat/threadz").expect_error(404, "RouteNotFound");
    c.get(&format!("/chat/threads/{}/nonsense", enc(&tid)))
        .expect_error(404, "RouteNotFound");
    c.get("/").expect_error(404, "RouteNotFound");
    c.call(
        "PUT",
        &format!("/chat/threads/{}", enc(&tid)),
        V2024,
        Some(&json!({})),
    )
    .expect_error(405, "MethodNotAllowed");
}

/// Chat echoes x-ms-client-request-id only when asked, and names its api-versions.
#[test]
fn chat_echoes_client_request_id_only_when_asked() {
    let emu = Emulator::start().expect("emulator");
    let c = Client::new(&emu);
    let url = c.url(&format!("/chat/threads?api-version={V2024}"));
    let id = "7bfeebca-e9f1-11f1-b86a-02fc00000001";
    let plain = c.send_raw("GET", &url, None, &[("x-ms-client-request-id", id)]);
    assert_eq!(plain.header("x-ms-client-request-id"), None);
    assert_eq!(
        plain.header("api-supported-versions"),
        Some("2021-09-07, 2023-11-07, 2024-03-07, 2025-03-15")
    );
    let asked = c.send_raw(
        "GET",
        &url,
        None,
        &[
            ("x-ms-client-request-id", id),
            ("x-ms-return-client-request-id", "true"),
        ],
    );
    assert_eq!(asked.header("x-ms-client-request-id"), Some(id));
}
