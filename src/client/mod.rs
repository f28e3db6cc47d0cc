//! The chat clients: [`ChatClient`] (threads) and [`ChatThreadClient`] (one thread).
//!
//! Both share a `ClientInner` through an `Arc`: the transport (one connection pool), the
//! validated endpoint, the credential and the api-version.

mod chat_client;
mod chat_thread_client;
mod exactly_once;
mod limits;
mod options;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;

pub use chat_client::ChatClient;
pub use chat_thread_client::ChatThreadClient;
pub use exactly_once::IDEMPOTENCY_METADATA_KEY;
pub(crate) use options::check_page_size;
pub use options::{
    ChatClientOptions, CreateChatThreadOptions, ListChatThreadsOptions, ListMessagesOptions,
    ListParticipantsOptions, ListReadReceiptsOptions, SendMessageOptions,
    TypingNotificationOptions, UpdateChatThreadOptions, UpdateMessageOptions,
};

use crate::credential::{AccessToken, CommunicationTokenCredential};
use crate::error::{Error, Result};
use crate::http::{
    decoded_path, encode_query_value, rebase_next_link, Authorize, Endpoint, Method, Pipeline,
    Request, Response, RetryClass,
};
use crate::pager::Pager;
use crate::transport::Transport;

// The clients promise to be shareable across threads; keep that a compile-time fact.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<ChatClient>();
    shareable::<ChatThreadClient>();
};

/// JSON bodies of POST requests.
pub(crate) const JSON: &str = "application/json";
/// JSON merge-patch bodies of PATCH requests.
pub(crate) const MERGE_PATCH: &str = "application/merge-patch+json";

/// What every clone of a chat client shares.
pub(crate) struct ClientInner {
    pipeline: Pipeline,
    endpoint: Endpoint,
    credential: CommunicationTokenCredential,
    api_version: String,
    /// `scheme://host[:port]`, built once (every request URL starts with it).
    base: String,
    /// `api-version=<encoded>`, built once (every query ends with it).
    api_version_query: String,
}

impl ClientInner {
    /// The same client (endpoint, api-version, connection pool) calling as another user.
    pub(crate) fn with_credential(&self, credential: CommunicationTokenCredential) -> Self {
        ClientInner {
            pipeline: self.pipeline.clone(),
            endpoint: self.endpoint.clone(),
            credential,
            api_version: self.api_version.clone(),
            base: self.base.clone(),
            api_version_query: self.api_version_query.clone(),
        }
    }

    pub(crate) fn new(
        endpoint: &str,
        credential: CommunicationTokenCredential,
        options: ChatClientOptions,
    ) -> Result<Self> {
        options.check_api_version()?;
        let transport = Transport::for_client(options.transport, options.transport_options)?;
        let endpoint = Endpoint::parse(endpoint, transport.options().allow_insecure_http)?;
        let pipeline = transport.pipeline;
        let base = endpoint.base();
        let api_version_query = format!("api-version={}", encode_query_value(&options.api_version));
        Ok(ClientInner {
            pipeline,
            endpoint,
            credential,
            api_version: options.api_version,
            base,
            api_version_query,
        })
    }

    /// `path?k=v&…&api-version=…` with every value percent-encoded; `path` is already encoded.
    pub(crate) fn path_and_query(&self, path: &str, query: &[(&str, String)]) -> String {
        self.path_and_query_of(path, &[], query)
    }

    /// [`path_and_query`](Self::path_and_query) of the path `head` followed by the `tail`
    /// parts (all already encoded).
    pub(crate) fn path_and_query_of(
        &self,
        head: &str,
        tail: &[&str],
        query: &[(&str, String)],
    ) -> String {
        let mut out = format!("{head}{}?", tail.concat());
        for (key, value) in query {
            out.push_str(&format!("{key}={}&", encode_query_value(value)));
        }
        out.push_str(&self.api_version_query);
        out
    }

    pub(crate) fn request(
        &self,
        method: Method,
        path_and_query: &str,
        retry: RetryClass,
    ) -> Request {
        debug_assert!(path_and_query.starts_with('/'));
        Request::new(method, format!("{}{path_and_query}", self.base), retry)
    }

    /// Sends with a bearer token, refreshed once after a 401.
    pub(crate) fn send(&self, request: Request) -> Result<Response> {
        let auth = BearerAuth {
            credential: &self.credential,
            last: RefCell::new(None),
        };
        self.pipeline.send(request, &auth)
    }

    /// Sends with a bearer token and decodes the JSON body; a malformed body of a request
    /// that is safe to repeat is retried.
    pub(crate) fn send_json<T: DeserializeOwned>(&self, request: Request) -> Result<T> {
        let auth = BearerAuth {
            credential: &self.credential,
            last: RefCell::new(None),
        };
        self.pipeline.send_and(request, &auth, |r| r.json())
    }

    /// Sends with a bearer token and decodes the JSON body, asking `recover` before each retry
    /// after a failure that may have taken effect (see `Pipeline::send_recovering`).
    pub(crate) fn send_json_recovering<T: DeserializeOwned>(
        &self,
        request: Request,
        recover: impl FnMut(&Error, Option<Instant>) -> Result<Option<T>>,
    ) -> Result<T> {
        let auth = BearerAuth {
            credential: &self.credential,
            last: RefCell::new(None),
        };
        self.pipeline
            .send_recovering(request, &auth, |r| r.json(), None, recover)
    }

    /// Sends with a bearer token, ending no later than `deadline`, and turns the 2xx response
    /// into `T` with `accept`.
    pub(crate) fn send_until<T>(
        &self,
        request: Request,
        deadline: Option<Instant>,
        accept: impl Fn(Response) -> Result<T>,
    ) -> Result<T> {
        let auth = BearerAuth {
            credential: &self.credential,
            last: RefCell::new(None),
        };
        self.pipeline
            .send_recovering(request, &auth, accept, deadline, |_, _| Ok(None))
    }

    /// A lazy pager over the list at `path` (already encoded). The first request is built
    /// from `query`, or from `continuation_token` when one is given (it must belong to the
    /// same list). A rejected token makes a pager that yields only that error, sending nothing.
    pub(crate) fn pager<T: DeserializeOwned + Send + 'static>(
        self: &Arc<Self>,
        path: &str,
        query: &[(&str, String)],
        continuation_token: Option<&str>,
    ) -> Pager<T> {
        let first = match continuation_token {
            None => self.path_and_query(path, query),
            Some(token) => match rebase_next_link(Some(token), &self.api_version) {
                None => {
                    return Pager::failed(Error::invalid_argument(
                        "continuation_token",
                        "must not be empty",
                    ))
                }
                Some(resumed) if decoded_path(&resumed) != decoded_path(path) => {
                    // Only a link into the chat API can belong to another list; anything else
                    // was never a continuation token.
                    let reason = if looks_like_list_link(token, &resumed) {
                        "belongs to a different list"
                    } else {
                        "is malformed: not a continuation_token from a page of this list"
                    };
                    return Pager::failed(Error::invalid_argument("continuation_token", reason));
                }
                Some(resumed) => resumed,
            },
        };
        let inner = Arc::clone(self);
        Pager::new(
            first,
            &self.api_version,
            Box::new(move |path_and_query: &str| {
                let request = inner.request(Method::GET, path_and_query, RetryClass::SafeToRepeat);
                let auth = BearerAuth {
                    credential: &inner.credential,
                    last: RefCell::new(None),
                };
                inner.pipeline.send_and(request, &auth, |response| {
                    crate::models::decode_page::<T>(&response.body).map_err(|source| {
                        Error::Decode {
                            status: response.status,
                            source,
                        }
                    })
                })
            }),
        )
    }

    /// A pager over a time-paged list (`maxPageSize` and `startTime`): threads and messages.
    /// Invalid options give a pager that fails without sending.
    pub(crate) fn time_pager<T: DeserializeOwned + Send + 'static>(
        self: &Arc<Self>,
        path: &str,
        results_per_page: Option<i32>,
        start_time: Option<&DateTime<Utc>>,
        continuation_token: Option<&str>,
    ) -> Pager<T> {
        if let Err(e) = options::check_page_size(results_per_page) {
            return Pager::failed(e);
        }
        let mut query = Vec::new();
        if let Some(n) = results_per_page {
            query.push(("maxPageSize", n.to_string()));
        }
        if let Some(t) = start_time {
            query.push(("startTime", query_time(t)));
        }
        self.pager(path, &query, continuation_token)
    }

    /// A pager over an offset-paged list (`maxPageSize` and `skip`): read receipts and
    /// participants. Invalid options give a pager that fails without sending.
    pub(crate) fn skip_pager<T: DeserializeOwned + Send + 'static>(
        self: &Arc<Self>,
        path: &str,
        results_per_page: Option<i32>,
        skip: Option<i32>,
        continuation_token: Option<&str>,
    ) -> Pager<T> {
        if let Err(e) =
            options::check_page_size(results_per_page).and_then(|()| options::check_skip(skip))
        {
            return Pager::failed(e);
        }
        let mut query = Vec::new();
        if let Some(n) = results_per_page {
            query.push(("maxPageSize", n.to_string()));
        }
        if let Some(n) = skip {
            query.push(("skip", n.to_string()));
        }
        self.pager(path, &query, continuation_token)
    }
}

/// Whether a continuation token is a link into the chat API (an absolute URL or a path under
/// `/chat/`), as every page's `continuation_token` is.
fn looks_like_list_link(token: &str, rebased: &str) -> bool {
    let token = token.trim();
    let absolute = token.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphabetic())
    });
    (absolute || token.starts_with('/')) && decoded_path(rebased).starts_with("/chat/")
}

/// Formats a time for a query parameter as the Python SDK does (UTC, `Z`, milliseconds).
fn query_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Adds `Authorization: Bearer …` to every attempt of one call and remembers the token sent,
/// so that after a 401 the credential can be told which token failed.
struct BearerAuth<'a> {
    credential: &'a CommunicationTokenCredential,
    last: RefCell<Option<AccessToken>>,
}

impl Authorize for BearerAuth<'_> {
    fn authorize(&self, request: &mut Request, deadline: Option<Instant>) -> Result<()> {
        let token = self.credential.token_until(deadline)?;
        request.set_header("authorization", format!("Bearer {}", token.token));
        *self.last.borrow_mut() = Some(token);
        Ok(())
    }

    fn on_unauthorized(&self) -> bool {
        match self.last.borrow().as_ref() {
            Some(token) => self.credential.invalidate(token),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> ClientInner {
        // A syntactically valid token that expires far in the future; never sent anywhere.
        let payload = base64_payload(r#"{"exp":4102444800}"#);
        let credential = CommunicationTokenCredential::new(format!("h.{payload}.s")).expect("jwt");
        ClientInner::new(
            "https://contoso.example/",
            credential,
            ChatClientOptions::default(),
        )
        .expect("valid")
    }

    fn base64_payload(json: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Query values are encoded and api-version comes last.
    #[test]
    fn path_and_query_encodes_values_and_appends_version() {
        let got = inner().path_and_query(
            "/chat/threads",
            &[
                ("maxPageSize", "2".into()),
                ("startTime", "2026-11-26T23:28:53.471Z".into()),
            ],
        );
        assert_eq!(got, "/chat/threads?maxPageSize=2&startTime=2026-11-26T23%3A28%3A53.471Z&api-version=2025-03-15");
    }

    /// Query times are UTC with milliseconds and `Z`.
    #[test]
    fn query_time_uses_milliseconds_and_z() {
        let t = DateTime::parse_from_rfc3339("2024-01-01T01:00:00+01:00")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(query_time(&t), "2024-01-01T00:00:00.000Z");
    }

    /// A continuation token for another list, or an empty one, is rejected before any request.
    #[test]
    fn pager_rejects_foreign_continuation_token() {
        let inner = Arc::new(inner());
        let first = |pager: Pager<serde_json::Value>| pager.into_iter().next();
        let r = first(inner.pager(
            "/chat/threads/19%3Aa%40thread.v2/messages",
            &[],
            Some("https://x/chat/threads/19:a@thread.v2/participants?skip=2"),
        ));
        assert!(
            matches!(
                r,
                Some(Err(Error::InvalidArgument {
                    name: "continuation_token",
                    ..
                }))
            ),
            "{r:?}"
        );
        assert!(
            matches!(&r, Some(Err(Error::InvalidArgument { reason, .. })) if reason.contains("different list")),
            "{r:?}"
        );
        for garbage in ["not a token", "%%%", "abc123", "https://x/other/path"] {
            let r = first(inner.pager("/chat/threads", &[], Some(garbage)));
            assert!(
                matches!(&r, Some(Err(Error::InvalidArgument { reason, .. })) if reason.contains("malformed")),
                "{garbage:?}: {r:?}"
            );
        }
        let r = first(inner.pager("/chat/threads", &[], Some(" ")));
        assert!(
            matches!(
                r,
                Some(Err(Error::InvalidArgument {
                    name: "continuation_token",
                    ..
                }))
            ),
            "{r:?}"
        );
        let ok: Pager<serde_json::Value> = inner.pager(
            "/chat/threads/19%3Aa%40thread.v2/messages",
            &[],
            Some("https://x/chat/threads/19:a@thread.v2/messages?syncState=abc&api-version=old"),
        );
        let debug = format!("{ok:?}");
        assert!(debug.contains("failed: false"), "{debug}");
    }
}
