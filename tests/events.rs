//! `acs_chat::events`: every Event Grid sample in `../shared/eventgrid/samples/` (or
//! `$ACS_EVENTGRID_DIR/samples`) decodes into its typed model and re-encodes to the same JSON,
//! also with unknown fields added at every level; samples built here from the spec (required
//! fields only, every optional field, wrong types) for every chat event type; both envelopes;
//! and the webhook handler's answers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use acs_chat::events::{
    self, ChatEventData, ChatEventEnvelope, Deduplicator, EventSchema, WebhookHandler,
    WebhookOptions, WebhookRejection, WebhookRequestKind, WebhookSecret, CHAT_EVENT_TYPES,
};
use acs_chat::{CommunicationIdentifier, Error};
use serde_json::{json, Map, Value};

const ACS: &str = "Microsoft.Communication.";

/// The samples folder, or why there is none.
fn samples_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("ACS_EVENTGRID_DIR") {
        let dir = PathBuf::from(dir).join("samples");
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!("{} is not a directory", dir.display()))
        };
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eventgrid/samples");
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "{} does not exist and ACS_EVENTGRID_DIR is not set",
            dir.display()
        ))
    }
}

/// One sample file: its path (relative), its JSON, and the content type Event Grid would
/// deliver it with.
struct Sample {
    name: String,
    json: Value,
    content_type: &'static str,
}

/// Every event sample (not the validation *response*), or `None` with the reason printed.
fn samples() -> Option<Vec<Sample>> {
    let dir = match samples_dir() {
        Ok(dir) => dir,
        Err(why) => {
            eprintln!("skipped: no Event Grid samples: {why}");
            return None;
        }
    };
    let mut out = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable samples folder") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("json")
                || path
                    .to_string_lossy()
                    .contains("SubscriptionValidationResponse")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable sample");
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let single_cloud_event =
                json.get("specversion").is_some() || json.get("specVersion").is_some();
            out.push(Sample {
                name: path
                    .strip_prefix(&dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
                json,
                content_type: if single_cloud_event {
                    "application/cloudevents+json; charset=utf-8"
                } else {
                    "application/json; charset=utf-8"
                },
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 40, "only {} samples found", out.len());
    Some(out)
}

fn parse_value(content_type: &str, value: &Value) -> acs_chat::Result<Vec<ChatEventEnvelope>> {
    events::parse(content_type, &serde_json::to_vec(value).unwrap())
}

/// The events as JSON again: an array for array bodies, the one object otherwise.
fn reencode(original: &Value, events: &[ChatEventEnvelope]) -> Value {
    let items: Vec<Value> = events
        .iter()
        .map(|e| serde_json::to_value(e).expect("events always encode"))
        .collect();
    if original.is_array() {
        Value::Array(items)
    } else {
        assert_eq!(items.len(), 1, "one object gave {} events", items.len());
        items.into_iter().next().unwrap()
    }
}

/// Describes the first difference between two JSON values, for assertion messages.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &format!("{path}/{key}")) {
                            return Some(d);
                        }
                    }
                    (p, q) => return Some(format!("{path}/{key}: {p:?} vs {q:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}/{i}"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

/// Adds an unknown field to every object, at every depth (envelope, data, identifiers,
/// participants, properties, metadata is skipped since its values must be strings).
fn add_unknown_fields(value: &mut Value, depth: usize) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key != "metadata" {
                    add_unknown_fields(child, depth + 1);
                }
            }
            map.insert(
                format!("x-unknown-{depth}"),
                json!({"nested": [1, "two", null, {"three": 3.5}], "flag": false}),
            );
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| add_unknown_fields(i, depth + 1)),
        _ => {}
    }
}

/// Every sample decodes; chat types into their own typed model, the system events too, and
/// only the spec's undefined `ChatAzureBotCommand` type stays unknown. All 18 chat types are
/// covered by the samples.
#[test]
fn parse_every_sample_decodes_into_its_typed_model() {
    let Some(samples) = samples() else { return };
    let mut seen = BTreeSet::new();
    for s in &samples {
        let events = parse_value(s.content_type, &s.json)
            .unwrap_or_else(|e| panic!("{}: {e} ({e:?})", s.name));
        assert!(!events.is_empty(), "{}: no events", s.name);
        for e in &events {
            let known = e.data.event_type_name();
            if e.event_type == "Microsoft.Communication.ChatAzureBotCommand" {
                assert!(
                    matches!(e.data, ChatEventData::Unknown(Some(_))),
                    "{}: the undefined type decoded as {:?}",
                    s.name,
                    known
                );
                continue;
            }
            assert_eq!(
                known,
                Some(e.event_type.as_str()),
                "{}: {} decoded as {:?}",
                s.name,
                e.event_type,
                e.data
            );
            let want_schema =
                if s.json.get("specversion").is_some() || s.json.get("specVersion").is_some() {
                    EventSchema::CloudEvents
                } else {
                    EventSchema::EventGrid
                };
            assert_eq!(e.schema, want_schema, "{}: schema", s.name);
            assert!(!e.id.is_empty(), "{}: empty id", s.name);
            assert!(e.topic.is_some(), "{}: no topic/source", s.name);
            if e.event_type.starts_with(ACS) {
                let thread = e.data.thread_id().expect("chat events name their thread");
                assert!(thread.starts_with("19:"), "{}: thread id {thread}", s.name);
                seen.insert(e.event_type.clone());
            }
        }
    }
    let missing: Vec<_> = CHAT_EVENT_TYPES
        .iter()
        .filter(|t| !seen.contains(**t))
        .collect();
    assert!(missing.is_empty(), "no sample decoded for {missing:?}");
}

/// Decoding and re-encoding every sample gives back the same JSON value, legacy fields
/// (`senderId`, `members`, …), `version` as a string, time offsets and digits included.
#[test]
fn reencode_every_sample_gives_equal_json() {
    let Some(samples) = samples() else { return };
    for s in &samples {
        let events = parse_value(s.content_type, &s.json).unwrap();
        let again = reencode(&s.json, &events);
        assert!(
            again == s.json,
            "{}: {}",
            s.name,
            first_difference(&s.json, &again, "").unwrap_or_default()
        );
    }
}

/// With an unknown field added to every object at every depth, every sample still
/// re-encodes to exactly the mutated JSON; and the comparison does notice one dropped field.
#[test]
fn reencode_keeps_unknown_fields_at_every_level() {
    let Some(samples) = samples() else { return };
    for s in &samples {
        let mut mutated = s.json.clone();
        add_unknown_fields(&mut mutated, 0);
        let events = parse_value(s.content_type, &mutated)
            .unwrap_or_else(|e| panic!("{} with unknown fields: {e}", s.name));
        let again = reencode(&mutated, &events);
        assert!(
            again == mutated,
            "{} with unknown fields: {}",
            s.name,
            first_difference(&mutated, &again, "").unwrap_or_default()
        );
        // The check is sharp: dropping any one unknown field makes it fail.
        let mut dropped = again.clone();
        let event = match &mut dropped {
            Value::Array(items) => &mut items[0],
            other => other,
        };
        let data = event
            .get_mut("data")
            .and_then(Value::as_object_mut)
            .expect("samples have data objects");
        assert!(data.remove("x-unknown-2").is_some() || data.remove("x-unknown-1").is_some());
        assert_ne!(
            dropped, mutated,
            "{}: a dropped field went unnoticed",
            s.name
        );
    }
}

/// Fields the model knows are really typed: a time with an offset is the UTC instant, a
/// string `version` is the number, identifiers are `CommunicationIdentifier`s.
#[test]
fn parse_docs_samples_reads_typed_fields() {
    let Some(samples) = samples() else { return };
    let sample = |name: &str| {
        samples
            .iter()
            .find(|s| s.name.ends_with(name) && s.name.starts_with("docs"))
            .unwrap_or_else(|| panic!("no sample {name}"))
    };
    let s = sample("ChatMessageReceivedInThread.json");
    let e = &parse_value(s.content_type, &s.json).unwrap()[0];
    let ChatEventData::MessageReceivedInThread(d) = &e.data else {
        panic!("decoded as {:?}", e.data)
    };
    assert_eq!(d.version, 1613783230064, "version sent as a string");
    assert_eq!(
        d.compose_time.to_rfc3339(),
        "2021-02-20T01:07:10.064+00:00",
        "compose time"
    );
    assert_eq!(
        d.sender,
        CommunicationIdentifier::communication_user(
            "8:acs:109f0644-b956-4cd9-87b1-71024f6e2f44_00000008-5cdb-4916-07fd-084822002624"
        )
    );
    assert_eq!(
        d.metadata.as_ref().map(|m| m["key"].as_str()),
        Some("value")
    );
    assert_eq!(
        e.event_time.map(|t| t.timestamp_subsec_nanos()),
        Some(570_459_600)
    );

    let s = sample("ChatThreadCreatedWithUser.json");
    let e = &parse_value(s.content_type, &s.json).unwrap()[0];
    let ChatEventData::ThreadCreatedWithUser(d) = &e.data else {
        panic!("decoded as {:?}", e.data)
    };
    assert!(e.data.is_per_user());
    assert_eq!(
        e.data.recipient().map(|r| r.raw_id()),
        Some(d.recipient.raw_id())
    );
    assert!(
        !d.participants.is_empty(),
        "participants: {:?}",
        d.participants
    );
    assert!(
        d.additional_properties.contains_key("members"),
        "legacy `members` kept: {:?}",
        d.additional_properties.keys()
    );
}

// ---------------------------------------------------------------------------------------
// Samples built from the spec.

/// Required and optional data keys of each chat event type, as the spec defines them
/// (TypeSpec), written out here independently of the models.
fn spec_table() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    let user = ["recipientCommunicationIdentifier", "threadId"];
    let thread = ["threadId"];
    let message = [
        "messageId",
        "senderCommunicationIdentifier",
        "composeTime",
        "type",
        "version",
    ];
    let message_opt = ["transactionId", "senderDisplayName", "sequenceId"];
    let cat = |parts: &[&[&'static str]]| parts.concat();
    vec![
        (
            "ChatMessageReceived",
            cat(&[&user, &message, &["messageBody"]]),
            cat(&[&message_opt, &["metadata"]]),
        ),
        (
            "ChatMessageEdited",
            cat(&[&user, &message, &["messageBody", "editTime"]]),
            cat(&[&message_opt, &["metadata"]]),
        ),
        (
            "ChatMessageDeleted",
            cat(&[&user, &message, &["deleteTime"]]),
            message_opt.to_vec(),
        ),
        (
            "ChatMessageReceivedInThread",
            cat(&[&thread, &message, &["messageBody"]]),
            cat(&[&message_opt, &["metadata"]]),
        ),
        (
            "ChatMessageEditedInThread",
            cat(&[&thread, &message, &["messageBody", "editTime"]]),
            cat(&[&message_opt, &["metadata"]]),
        ),
        (
            "ChatMessageDeletedInThread",
            cat(&[&thread, &message, &["deleteTime"]]),
            message_opt.to_vec(),
        ),
        (
            "ChatAzureBotCommandReceivedInThread",
            cat(&[&thread, &message, &["messageBody"]]),
            cat(&[&message_opt, &["metadata"]]),
        ),
        (
            // The spec requires the message fields; its only sample lacks them (tolerated).
            "ChatTypingIndicatorReceivedInThread",
            vec!["threadId", "senderCommunicationIdentifier"],
            vec![
                "transactionId",
                "senderDisplayName",
                "sequenceId",
                "messageId",
                "composeTime",
                "type",
                "version",
                "messageBody",
                "metadata",
            ],
        ),
        (
            "ChatThreadCreatedWithUser",
            cat(&[
                &user,
                &[
                    "createTime",
                    "createdByCommunicationIdentifier",
                    "properties",
                    "participants",
                ],
            ]),
            vec!["transactionId", "version", "metadata", "retentionPolicy"],
        ),
        (
            "ChatThreadCreated",
            cat(&[
                &thread,
                &[
                    "createTime",
                    "createdByCommunicationIdentifier",
                    "properties",
                    "participants",
                ],
            ]),
            vec!["transactionId", "version", "metadata", "retentionPolicy"],
        ),
        (
            "ChatThreadWithUserDeleted",
            cat(&[
                &user,
                &[
                    "createTime",
                    "deletedByCommunicationIdentifier",
                    "deleteTime",
                ],
            ]),
            vec!["transactionId", "version"],
        ),
        (
            "ChatThreadDeleted",
            cat(&[
                &thread,
                &[
                    "createTime",
                    "deletedByCommunicationIdentifier",
                    "deleteTime",
                ],
            ]),
            vec!["transactionId", "version", "reason"],
        ),
        (
            "ChatThreadPropertiesUpdatedPerUser",
            cat(&[
                &user,
                &[
                    "createTime",
                    "editedByCommunicationIdentifier",
                    "editTime",
                    "properties",
                ],
            ]),
            vec!["transactionId", "version", "metadata", "retentionPolicy"],
        ),
        (
            // The spec requires `metadata`; the docs sample lacks it (tolerated).
            "ChatThreadPropertiesUpdated",
            cat(&[
                &thread,
                &[
                    "createTime",
                    "editedByCommunicationIdentifier",
                    "editTime",
                    "properties",
                ],
            ]),
            vec!["transactionId", "version", "metadata", "retentionPolicy"],
        ),
        (
            "ChatParticipantAddedToThreadWithUser",
            cat(&[
                &user,
                &[
                    "createTime",
                    "time",
                    "addedByCommunicationIdentifier",
                    "participantAdded",
                ],
            ]),
            vec!["transactionId", "version"],
        ),
        (
            "ChatParticipantRemovedFromThreadWithUser",
            cat(&[
                &user,
                &[
                    "createTime",
                    "time",
                    "removedByCommunicationIdentifier",
                    "participantRemoved",
                ],
            ]),
            vec!["transactionId", "version"],
        ),
        (
            "ChatThreadParticipantAdded",
            cat(&[
                &thread,
                &["time", "addedByCommunicationIdentifier", "participantAdded"],
            ]),
            vec!["transactionId", "version"],
        ),
        (
            "ChatThreadParticipantRemoved",
            cat(&[
                &thread,
                &[
                    "time",
                    "removedByCommunicationIdentifier",
                    "participantRemoved",
                ],
            ]),
            vec!["transactionId", "version"],
        ),
    ]
}

fn identifier(user: &str) -> Value {
    let raw = format!("8:acs:resource_{user}");
    json!({"rawId": raw, "communicationUser": {"id": raw}})
}

/// A valid value for a data key.
fn good_value(key: &str) -> Value {
    match key {
        k if k.ends_with("CommunicationIdentifier") => identifier(k),
        "threadId" => json!("19:abc@thread.v2"),
        "sequenceId" => json!(42),
        "version" => json!(1700000000123_i64),
        "composeTime" | "editTime" | "deleteTime" | "createTime" | "time" => {
            json!("2024-06-06T00:03:29.1234567-07:00")
        }
        "metadata" => json!({"k": "v", "empty": ""}),
        "properties" => json!({"topic": "Lunch", "extra": {"n": 1}}),
        "participants" => json!([participant("a"), participant("b")]),
        "participantAdded" | "participantRemoved" => participant("c"),
        "retentionPolicy" => json!({"kind": "threadCreationDate", "deleteThreadAfterDays": 40}),
        other => json!(format!("value of {other}")),
    }
}

fn participant(user: &str) -> Value {
    json!({"displayName": user, "participantCommunicationIdentifier": identifier(user),
        "metadata": {"role": "guest"}})
}

/// A value of the wrong type for a data key.
fn bad_value(key: &str) -> Value {
    match key {
        k if k.ends_with("CommunicationIdentifier") => json!("8:acs:resource_x"),
        "sequenceId" | "version" => json!(true),
        "composeTime" | "editTime" | "deleteTime" | "createTime" | "time" => json!("yesterday"),
        "metadata" => json!({"k": 1}),
        "properties" => json!(["topic"]),
        "participants" => json!({"a": 1}),
        "participantAdded" | "participantRemoved" => json!({"displayName": "no identifier"}),
        "retentionPolicy" => json!("forever"),
        _ => json!(12),
    }
}

fn data_with(keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .map(|k| (k.to_string(), good_value(k)))
        .collect()
}

fn event_grid(event_type: &str, data: Map<String, Value>) -> Value {
    json!([{
        "id": "7c4c5b2e-0000-4000-8000-000000000001",
        "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/c",
        "subject": "thread/19:abc@thread.v2/sender/8:acs:resource_a",
        "eventType": event_type,
        "eventTime": "2024-06-06T00:03:30.5Z",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "data": data,
    }])
}

fn parse_eg(event_type: &str, data: Map<String, Value>) -> acs_chat::Result<ChatEventEnvelope> {
    let body = event_grid(event_type, data);
    let mut events = parse_value("application/json", &body)?;
    assert_eq!(events.len(), 1);
    let event = events.remove(0);
    assert_eq!(reencode(&body, std::slice::from_ref(&event)), body);
    Ok(event)
}

/// The spec table covers exactly the 18 chat event types.
#[test]
fn spec_table_covers_every_chat_event_type() {
    let table: BTreeSet<String> = spec_table()
        .iter()
        .map(|(t, _, _)| format!("{ACS}{t}"))
        .collect();
    let listed: BTreeSet<String> = CHAT_EVENT_TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(table, listed);
}

/// Every chat event type decodes from its required fields alone and from all of its fields,
/// into its own variant, and re-encodes to the same JSON; optional fields sent as `null` read
/// as absent and are written back as `null`.
#[test]
fn parse_every_event_type_with_required_and_all_fields() {
    for (name, required, optional) in spec_table() {
        let event_type = format!("{ACS}{name}");
        let minimal = parse_eg(&event_type, data_with(&required))
            .unwrap_or_else(|e| panic!("{name} with required fields only: {e}"));
        assert_eq!(
            minimal.data.event_type_name(),
            Some(event_type.as_str()),
            "{name}"
        );
        assert_eq!(minimal.data.thread_id(), Some("19:abc@thread.v2"), "{name}");
        assert_eq!(
            minimal.data.is_per_user(),
            required.contains(&"recipientCommunicationIdentifier"),
            "{name}: per user?"
        );

        let all: Vec<&str> = required.iter().chain(&optional).copied().collect();
        let full = parse_eg(&event_type, data_with(&all))
            .unwrap_or_else(|e| panic!("{name} with every field: {e}"));
        let data = serde_json::to_value(full.data_json()).unwrap();
        assert_eq!(
            data.as_object().map(|o| o.len()),
            Some(all.len()),
            "{name}: {data}"
        );

        let mut nulls = data_with(&required);
        for key in &optional {
            nulls.insert(key.to_string(), Value::Null);
        }
        let with_nulls = parse_eg(&event_type, nulls)
            .unwrap_or_else(|e| panic!("{name} with null optionals: {e}"));
        assert_eq!(
            with_nulls.data, minimal.data,
            "{name}: nulls differ from absent"
        );
    }
}

/// Test helper: the data of an envelope as JSON.
trait DataJson {
    fn data_json(&self) -> Value;
}

impl DataJson for ChatEventEnvelope {
    fn data_json(&self) -> Value {
        serde_json::to_value(self).unwrap()["data"].clone()
    }
}

/// A missing required field, a `null` one, or any field of the wrong type is an
/// `Error::InvalidEvent` naming the event type and the field, and never echoing the value.
#[test]
fn parse_rejects_missing_and_wrong_typed_fields_by_name() {
    for (name, required, optional) in spec_table() {
        let event_type = format!("{ACS}{name}");
        for key in &required {
            for (how, data) in [
                ("missing", {
                    let mut d = data_with(&required);
                    d.remove(*key);
                    d
                }),
                ("null", {
                    let mut d = data_with(&required);
                    d.insert(key.to_string(), Value::Null);
                    d
                }),
            ] {
                let err = parse_eg(&event_type, data).expect_err(&format!("{name} {how} {key}"));
                let text = err.to_string();
                assert!(
                    matches!(err, Error::InvalidEvent { .. })
                        && text.contains(key)
                        && text.contains(name),
                    "{name} with {how} {key}: {text}"
                );
            }
        }
        for key in required.iter().chain(&optional) {
            let mut data = data_with(&required);
            data.insert(key.to_string(), bad_value(key));
            let err = parse_eg(&event_type, data).expect_err(&format!("{name} bad {key}"));
            let text = err.to_string();
            assert!(
                matches!(err, Error::InvalidEvent { .. }) && text.contains(key),
                "{name} with a wrong-typed {key}: {text}"
            );
            assert!(
                !text.contains("yesterday") && !text.contains("forever"),
                "the value was echoed: {text}"
            );
        }
    }
}

/// An event type the crate does not know keeps its `data` exactly, whatever its shape.
#[test]
fn parse_unknown_event_type_keeps_raw_data() {
    for data in [
        json!({"anything": [1, 2, {"deep": null}]}),
        json!("a string"),
        json!(null),
    ] {
        let body = json!([{"id": "u1", "subject": "s", "eventType": "Microsoft.Communication.ChatMessageReacted",
            "eventTime": "2024-01-01T00:00:00Z", "dataVersion": "2.0", "data": data}]);
        let events = parse_value("application/json", &body).unwrap();
        assert_eq!(
            events[0].data,
            ChatEventData::Unknown(Some(data.clone())),
            "data {data}"
        );
        assert_eq!(reencode(&body, &events), body);
    }
    // A CloudEvent may have no data at all.
    let body = json!({"id": "u2", "source": "/s", "type": "Contoso.Ping", "specversion": "1.0"});
    let events = parse_value("application/cloudevents+json", &body).unwrap();
    assert_eq!(events[0].data, ChatEventData::Unknown(None));
    assert_eq!(reencode(&body, &events), body);
}

/// The obsolete names (`ChatMember*` from 2020, `ChatParticipant*Thread`) decode as their
/// successors, and keep their own name in the envelope.
#[test]
fn parse_obsolete_names_decode_as_successors() {
    let table = spec_table();
    let keys = |name: &str| {
        table
            .iter()
            .find(|(t, _, _)| *t == name)
            .map(|(_, r, _)| r.clone())
            .unwrap()
    };
    for (old, new) in [
        (
            "ChatMemberAddedToThreadWithUser",
            "ChatParticipantAddedToThreadWithUser",
        ),
        (
            "ChatMemberRemovedFromThreadWithUser",
            "ChatParticipantRemovedFromThreadWithUser",
        ),
        ("ChatParticipantAddedToThread", "ChatThreadParticipantAdded"),
        (
            "ChatParticipantRemovedFromThread",
            "ChatThreadParticipantRemoved",
        ),
    ] {
        let e = parse_eg(&format!("{ACS}{old}"), data_with(&keys(new)))
            .unwrap_or_else(|e| panic!("{old}: {e}"));
        assert_eq!(e.event_type, format!("{ACS}{old}"));
        assert_eq!(
            e.data.event_type_name(),
            Some(format!("{ACS}{new}").as_str()),
            "{old}"
        );
    }
}

/// A changed field is written in canonical form; unchanged ones stay as received.
#[test]
fn reencode_writes_changed_fields_canonically() {
    let body = event_grid(
        &format!("{ACS}ChatMessageReceivedInThread"),
        data_with(&[
            "threadId",
            "messageId",
            "senderCommunicationIdentifier",
            "composeTime",
            "type",
            "version",
            "messageBody",
        ]),
    );
    let mut e = parse_value("application/json", &body).unwrap().remove(0);
    let ChatEventData::MessageReceivedInThread(d) = &mut e.data else {
        panic!("{:?}", e.data)
    };
    d.message_body = "edited".into();
    d.version += 1;
    let out = serde_json::to_value(&e).unwrap();
    assert_eq!(out["data"]["messageBody"], "edited");
    assert_eq!(out["data"]["version"], 1700000000124_i64);
    assert_eq!(
        out["data"]["composeTime"], "2024-06-06T00:03:29.1234567-07:00",
        "unchanged time keeps its offset"
    );
}

// ---------------------------------------------------------------------------------------
// Envelopes.

fn cloud_event(id: &str) -> Value {
    json!({
        "id": id, "source": "/subscriptions/s", "subject": "thread/19:abc@thread.v2/sender/x",
        "type": format!("{ACS}ChatThreadDeleted"), "time": "2021-02-20T00:00:42.5428002Z",
        "specversion": "1.0", "datacontenttype": "application/json", "traceparent": "00-1-2-01",
        "data": data_with(&["threadId", "createTime", "deletedByCommunicationIdentifier", "deleteTime"]),
    })
}

/// CloudEvents: one event, a batch, and the `specVersion` spelling of some samples, with
/// extension attributes kept and every envelope field mapped.
#[test]
fn parse_cloud_events_single_and_batch() {
    let one = cloud_event("ce-1");
    let events = parse_value("application/cloudevents+json; charset=utf-8", &one).unwrap();
    let e = &events[0];
    assert_eq!(e.schema, EventSchema::CloudEvents);
    assert_eq!(
        (e.id.as_str(), e.topic.as_deref(), e.spec_version.as_deref()),
        ("ce-1", Some("/subscriptions/s"), Some("1.0"))
    );
    assert_eq!(e.event_type, format!("{ACS}ChatThreadDeleted"));
    assert!(e.event_time.is_some() && e.data_version.is_none());
    assert!(e.additional_properties.contains_key("traceparent"));
    assert!(matches!(e.data, ChatEventData::ThreadDeleted(_)));

    let batch = json!([cloud_event("ce-1"), cloud_event("ce-2")]);
    let events = parse_value("application/cloudevents-batch+json", &batch).unwrap();
    assert_eq!(
        events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["ce-1", "ce-2"]
    );
    assert_eq!(reencode(&batch, &events), batch);

    let mut camel = cloud_event("ce-3");
    let v = camel
        .as_object_mut()
        .unwrap()
        .remove("specversion")
        .unwrap();
    camel["specVersion"] = v;
    let events = parse_value("application/cloudevents+json", &camel).unwrap();
    assert_eq!(events[0].spec_version.as_deref(), Some("1.0"));
    assert_eq!(reencode(&camel, &events), camel);

    // An array sent as application/json may also hold CloudEvents, told apart by key.
    let events = parse_value("application/json", &batch).unwrap();
    assert!(events.iter().all(|e| e.schema == EventSchema::CloudEvents));
}

/// Bodies that are not event deliveries are typed errors, never panics.
#[test]
fn parse_rejects_non_deliveries_with_typed_errors() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"not json".to_vec()),
        ("application/json", b"".to_vec()),
        ("application/json", b"42".to_vec()),
        ("application/json", b"[1, 2]".to_vec()),
        ("application/json", br#"[{"id": "x"}]"#.to_vec()),
        ("text/plain", br#"[]"#.to_vec()),
        (
            "application/cloudevents+json",
            serde_json::to_vec(&json!([cloud_event("x")])).unwrap(),
        ),
        (
            "application/cloudevents-batch+json",
            serde_json::to_vec(&cloud_event("x")).unwrap(),
        ),
        (
            "application/cloudevents+json",
            serde_json::to_vec(
                &json!({"id": "x", "source": "/s", "type": "t", "specversion": "0.3"}),
            )
            .unwrap(),
        ),
        (
            "application/json",
            serde_json::to_vec(&json!([{"id": "x", "subject": "s", "eventType": "t",
                "eventTime": "2021-13-01T00:00:00Z", "dataVersion": "1"}]))
            .unwrap(),
        ),
        (
            "application/json",
            serde_json::to_vec(
                &json!([{"id": "x", "subject": "s", "eventType": format!("{ACS}ChatThreadDeleted"),
                "eventTime": "2021-01-01T00:00:00Z", "dataVersion": "1", "data": [1]}]),
            )
            .unwrap(),
        ),
    ];
    for (content_type, body) in cases {
        match events::parse(content_type, &body) {
            Err(Error::InvalidEvent { .. }) => {}
            other => panic!(
                "{content_type} {:?} gave {other:?}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
    assert_eq!(
        events::parse("application/json", b"[]").unwrap(),
        Vec::new()
    );
}

// ---------------------------------------------------------------------------------------
// Webhook handler.

fn validation_body() -> Vec<u8> {
    br#"[{"id":"2d1781af-3a4c-4d7c-bd0c-e34b19da4e66","topic":"/subscriptions/x","subject":"",
      "data":{"validationCode":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
              "validationUrl":"https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/s/validate?id=1"},
      "eventType":"Microsoft.EventGrid.SubscriptionValidationEvent",
      "eventTime":"2022-10-28T04:23:35.1981776Z","metadataVersion":"1","dataVersion":"1"}]"#
        .to_vec()
}

fn notification_body() -> Vec<u8> {
    serde_json::to_vec(&event_grid(
        &format!("{ACS}ChatThreadDeleted"),
        data_with(&[
            "threadId",
            "createTime",
            "deletedByCommunicationIdentifier",
            "deleteTime",
        ]),
    ))
    .unwrap()
}

fn strict_handler() -> WebhookHandler {
    WebhookHandler::new(WebhookOptions {
        subscription_names: vec!["bot-sub".into()],
        secret: Some(WebhookSecret::new("code", "T0p-s3cret")),
        allowed_rate: Some(100),
        ..Default::default()
    })
}

const GOOD_URL: &str = "/api/events?code=T0p-s3cret";

fn eg_headers(kind: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("content-type", "application/json; charset=utf-8"),
        ("aeg-event-type", kind),
        ("aeg-subscription-name", "BOT-SUB"),
        ("aeg-delivery-count", "0"),
    ]
}

/// The Event Grid validation handshake is answered 200 with `{"validationResponse": code}`,
/// also for the docs' own sample file.
#[test]
fn handle_validation_answers_with_code() {
    let h = strict_handler();
    let out = h.handle(
        "POST",
        GOOD_URL,
        eg_headers("SubscriptionValidation"),
        &validation_body(),
    );
    assert_eq!(out.response.status, 200, "{:?}", out.kind);
    let body: Value = serde_json::from_slice(&out.response.body).unwrap();
    assert_eq!(
        body,
        json!({"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})
    );
    assert_eq!(
        out.response.header("content-type"),
        Some("application/json")
    );
    assert!(matches!(
        out.kind,
        WebhookRequestKind::Validation { ref validation_code } if validation_code == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    ));
    assert!(
        out.events.is_empty(),
        "a handshake handed out as events: {:?}",
        out.events
    );

    if let Ok(dir) = samples_dir() {
        let file = dir.join("eventgrid-system/SubscriptionValidationEvent.docs.json");
        let want = dir.join("eventgrid-system/SubscriptionValidationResponse.docs.json");
        let out = WebhookHandler::new(WebhookOptions::default()).handle(
            "POST",
            "/",
            eg_headers("SubscriptionValidation"),
            &std::fs::read(file).unwrap(),
        );
        let want: Value = serde_json::from_slice(&std::fs::read(want).unwrap()).unwrap();
        let got: Value = serde_json::from_slice(&out.response.body).unwrap();
        assert_eq!(got, want, "the docs' validation response");
    } else {
        eprintln!("skipped the docs' validation sample: no samples folder");
    }
}

/// Notifications come back as events with a 200; a deletion notice is told apart.
#[test]
fn handle_notification_returns_events() {
    let h = strict_handler();
    let out = h.handle(
        "POST",
        GOOD_URL,
        eg_headers("Notification"),
        &notification_body(),
    );
    assert_eq!(
        (out.response.status, out.response.body.len()),
        (200, 0),
        "{:?}",
        out.kind
    );
    assert!(matches!(out.kind, WebhookRequestKind::Notification));
    assert_eq!(out.events.len(), 1);
    assert!(matches!(
        out.events[0].data,
        ChatEventData::ThreadDeleted(_)
    ));

    let deleted = br#"[{"id":"d1","topic":"/subscriptions/x","subject":"","data":{"eventSubscriptionId":"/s/e"},
        "eventType":"Microsoft.EventGrid.SubscriptionDeletedEvent","eventTime":"2018-01-25T22:12:19.4556811Z",
        "metadataVersion":"1","dataVersion":"1"}]"#;
    let out = h.handle(
        "POST",
        GOOD_URL,
        eg_headers("SubscriptionDeletion"),
        deleted,
    );
    assert_eq!(out.response.status, 200);
    assert!(
        matches!(out.kind, WebhookRequestKind::SubscriptionDeletion),
        "{:?}",
        out.kind
    );
}

/// CloudEvents abuse protection: an allowed origin gets consent headers and the granted rate
/// (the lower of asked and allowed); other origins get 403 without consent; a missing origin
/// is 400.
#[test]
fn handle_options_grants_consent_to_allowed_origin() {
    let h = strict_handler();
    let out = h.handle(
        "OPTIONS",
        GOOD_URL,
        [
            ("WebHook-Request-Origin", "EventGrid.azure.net"),
            ("WebHook-Request-Rate", "120"),
        ],
        b"",
    );
    assert_eq!(out.response.status, 200, "{:?}", out.kind);
    assert_eq!(
        out.response.header("webhook-allowed-origin"),
        Some("eventgrid.azure.net")
    );
    assert_eq!(out.response.header("WebHook-Allowed-Rate"), Some("100"));
    assert_eq!(out.response.header("Allow"), Some("POST"));

    let any = WebhookHandler::new(WebhookOptions {
        allowed_origins: vec!["*".into()],
        ..Default::default()
    });
    let out = any.handle(
        "options",
        "/",
        [("webhook-request-origin", "example.org")],
        b"",
    );
    assert_eq!(out.response.header("WebHook-Allowed-Origin"), Some("*"));
    assert_eq!(out.response.header("WebHook-Allowed-Rate"), Some("*"));

    let out = h.handle(
        "OPTIONS",
        GOOD_URL,
        [("WebHook-Request-Origin", "evil.example")],
        b"",
    );
    assert_eq!(out.response.status, 403);
    assert_eq!(out.response.header("WebHook-Allowed-Origin"), None);
    let out = h.handle("OPTIONS", GOOD_URL, Vec::<(String, String)>::new(), b"");
    assert_eq!(out.response.status, 400);
}

/// One request and the status it must get: method, URL, headers, body, status.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [u8], u16);

/// Refusals: wrong or missing secret 401, wrong subscription 403, too large 413, not events
/// 400, other methods 405; none of them hands out events or echoes the secret.
#[test]
fn handle_refuses_bad_requests_with_documented_status() {
    let h = strict_handler();
    let body = notification_body();
    let big = vec![b' '; h.options().max_body_bytes + 1];
    let mut wrong_sub = eg_headers("Notification");
    wrong_sub[2] = ("aeg-subscription-name", "other-sub");
    let no_sub: Vec<_> = eg_headers("Notification")
        .into_iter()
        .filter(|(k, _)| *k != "aeg-subscription-name")
        .collect();
    let text_plain = vec![
        ("Content-Type", "text/plain"),
        ("aeg-subscription-name", "bot-sub"),
    ];
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/events",
            eg_headers("Notification"),
            &body,
            401,
        ),
        (
            "POST",
            "/api/events?code=T0p-s3cre",
            eg_headers("Notification"),
            &body,
            401,
        ),
        (
            "POST",
            "/api/events?code=T0p-s3cret&code=x",
            eg_headers("Notification"),
            &body,
            401,
        ),
        (
            "OPTIONS",
            "/api/events?code=nope",
            vec![("WebHook-Request-Origin", "eventgrid.azure.net")],
            b"",
            401,
        ),
        ("POST", GOOD_URL, wrong_sub, &body, 403),
        ("POST", GOOD_URL, no_sub, &body, 403),
        ("POST", GOOD_URL, eg_headers("Notification"), &big, 413),
        (
            "POST",
            GOOD_URL,
            eg_headers("Notification"),
            b"{\"hello\":",
            400,
        ),
        ("POST", GOOD_URL, eg_headers("Notification"), b"[]", 400),
        ("POST", GOOD_URL, text_plain, &body, 400),
        (
            "POST",
            GOOD_URL,
            eg_headers("SubscriptionValidation"),
            &body,
            400,
        ),
        ("GET", GOOD_URL, eg_headers("Notification"), b"", 405),
        ("DELETE", GOOD_URL, eg_headers("Notification"), b"", 405),
    ];
    for (method, url, headers, body, want) in cases {
        let out = h.handle(method, url, headers.clone(), body);
        assert_eq!(
            out.response.status, want,
            "{method} {url} {headers:?}: {:?}",
            out.kind
        );
        assert!(
            matches!(out.kind, WebhookRequestKind::Rejected(_)),
            "{:?}",
            out.kind
        );
        assert!(out.events.is_empty());
        let text = String::from_utf8_lossy(&out.response.body);
        assert!(!text.contains("T0p-s3cret"), "secret echoed: {text}");
    }

    // A validation event mixed with other events is not a valid handshake.
    let mut mixed: Value = serde_json::from_slice(&validation_body()).unwrap();
    let other: Value = serde_json::from_slice(&body).unwrap();
    mixed.as_array_mut().unwrap().push(other[0].clone());
    let out = h.handle(
        "POST",
        GOOD_URL,
        eg_headers("SubscriptionValidation"),
        &serde_json::to_vec(&mixed).unwrap(),
    );
    assert_eq!(out.response.status, 400);
    assert!(matches!(
        out.kind,
        WebhookRequestKind::Rejected(WebhookRejection::NotAnEventDelivery(_))
    ));
    assert_eq!(
        h.handle("PUT", GOOD_URL, eg_headers("x"), b"")
            .response
            .header("Allow"),
        Some("POST, OPTIONS")
    );
}

/// The secret never shows in `Debug` of the options, the handler or an outcome.
#[test]
fn debug_output_hides_webhook_secret() {
    let h = strict_handler();
    let out = h.handle("POST", "/x?code=wrong", eg_headers("Notification"), b"");
    for text in [
        format!("{h:?}"),
        format!("{:?}", h.options()),
        format!("{out:?}"),
    ] {
        assert!(!text.contains("T0p-s3cret"), "secret in {text}");
    }
}

/// Thousands of deterministic mutations of real deliveries (bytes flipped, cut, repeated)
/// through `parse` and the handler: never a panic, always a status from the documented set.
#[test]
fn handle_mutated_deliveries_never_panics() {
    let mut bodies = vec![validation_body(), notification_body()];
    if let Some(samples) = samples() {
        bodies.extend(samples.iter().map(|s| serde_json::to_vec(&s.json).unwrap()));
    }
    let h = WebhookHandler::new(WebhookOptions::default());
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let content_types = [
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "",
    ];
    for round in 0..4000 {
        let base = &bodies[round % bodies.len()];
        let mut body = base.clone();
        for _ in 0..(next() % 4 + 1) {
            if body.is_empty() {
                break;
            }
            let at = (next() as usize) % body.len();
            match next() % 4 {
                0 => body[at] = (next() & 0xff) as u8,
                1 => body.truncate(at),
                2 => body.insert(at, b"{}[]\",:0-e"[(next() % 10) as usize]),
                _ => {
                    let tail = body[at..].to_vec();
                    body.extend_from_slice(&tail[..tail.len().min(64)]);
                }
            }
        }
        let ct = content_types[(next() % 4) as usize];
        let _ = events::parse(ct, &body);
        let out = h.handle("POST", "/", [("Content-Type", ct)], &body);
        assert!(
            [200, 400].contains(&out.response.status),
            "status {} for a mutated body",
            out.response.status
        );
    }
}

/// The receiving types can be shared between a server's threads.
#[test]
fn webhook_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<WebhookHandler>();
    assert_send_sync::<Deduplicator>();
    assert_send_sync::<ChatEventEnvelope>();
}
