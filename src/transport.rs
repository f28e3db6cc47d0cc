//! [`Transport`]: one connection pool, with its retry, timeout and body-limit settings, that
//! any number of chat and identity clients share.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::http::{
    Pipeline, PipelineOptions, RetryOptions, DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BODY,
};

/// The settings of a [`Transport`]: how calls are retried and timed, how large a response may
/// be, and whether plain `http://` is allowed beyond loopback.
///
/// ```
/// use std::time::Duration;
/// use acs_chat::{RetryOptions, TransportOptions};
/// let options = TransportOptions { call_timeout: Duration::from_secs(10), ..Default::default() };
/// assert_eq!(options.retry, RetryOptions::default());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportOptions {
    /// How failed attempts are retried. Default: [`RetryOptions::default`].
    pub retry: RetryOptions,
    /// The longest wait for a new connection to be set up. Default: 10 s.
    pub connect_timeout: Duration,
    /// The longest a whole call may take, retries included. Default: 60 s.
    pub call_timeout: Duration,
    /// The largest response body accepted, in bytes. Default: 16 MiB.
    pub max_response_body: u64,
    /// Allow plain `http://` endpoints on hosts other than loopback. Default: `false`.
    pub allow_insecure_http: bool,
    /// Root certificates (PEM text, each entry one or more `CERTIFICATE`s) trusted for
    /// `https://` instead of the public roots, e.g. the emulator's development CA
    /// (`Emulator::ca_pem()`). Verification stays on. Default: empty (the public roots).
    pub root_certificates: Vec<String>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            retry: RetryOptions::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_response_body: DEFAULT_MAX_RESPONSE_BODY,
            allow_insecure_http: false,
            root_certificates: Vec::new(),
        }
    }
}

impl TransportOptions {
    /// Checks the options and turns them into pipeline options.
    pub(crate) fn to_pipeline_options(&self) -> Result<PipelineOptions> {
        for (name, zero) in [
            ("call_timeout", self.call_timeout.is_zero()),
            ("connect_timeout", self.connect_timeout.is_zero()),
            ("max_response_body", self.max_response_body == 0),
        ] {
            if zero {
                return Err(Error::invalid_argument(name, "must be more than zero"));
            }
        }
        Ok(PipelineOptions {
            retry: self.retry.clone(),
            connect_timeout: self.connect_timeout,
            call_timeout: self.call_timeout,
            max_response_body: self.max_response_body,
            root_certificates: crate::tls::parse_root_certificates(
                "root_certificates",
                &self.root_certificates,
            )?,
            ..PipelineOptions::default()
        })
    }
}

/// One connection pool and its settings, shared by any number of
/// [`ChatClient`](crate::ChatClient)s and
/// [`CommunicationIdentityClient`](crate::identity::CommunicationIdentityClient)s, each with a
/// credential of its own: a service acting for many users opens the connections of one pool,
/// not one pool per user.
///
/// Pass it as [`ChatClientOptions::transport`](crate::ChatClientOptions::transport) (or the
/// identity options' `transport`), or switch the user of an existing client with
/// [`ChatClient::with_credential`](crate::ChatClient::with_credential).
///
/// # Thread safety
///
/// `Transport` is `Clone + Send + Sync`; clones share the pool.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// use acs_chat::{ChatClient, ChatClientOptions, CommunicationTokenCredential, Transport};
///
/// let transport = Transport::new(Default::default())?;
/// let clients = (0..3)
///     .map(|_| {
///         let credential = CommunicationTokenCredential::new(emu.user_with_token().1)?;
///         let options = ChatClientOptions { transport: Some(transport.clone()), ..Default::default() };
///         ChatClient::with_options(&emu.endpoint(), credential, options)
///     })
///     .collect::<Result<Vec<_>, _>>()?;
/// for chat in &clients {
///     chat.create_chat_thread("one pool", None)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Two transports compare equal when they share one pool (one is a clone of the other).
#[derive(Clone, PartialEq, Eq)]
pub struct Transport {
    pub(crate) pipeline: Pipeline,
    pub(crate) options: TransportOptions,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport with its own connection pool. Fails with [`Error::InvalidArgument`] when a
    /// timeout or the body limit is zero.
    ///
    /// ```
    /// use acs_chat::{Transport, TransportOptions};
    /// let bad = TransportOptions { call_timeout: std::time::Duration::ZERO, ..Default::default() };
    /// assert!(Transport::new(bad).is_err());
    /// ```
    pub fn new(options: TransportOptions) -> Result<Self> {
        Ok(Transport {
            pipeline: Pipeline::new(options.to_pipeline_options()?),
            options,
        })
    }

    /// The transport of a client: `given`, when the client's own `options` were left at their
    /// defaults (settings go in one place only), or a new one built from `options`.
    pub(crate) fn for_client(given: Option<Transport>, options: TransportOptions) -> Result<Self> {
        match given {
            None => Transport::new(options),
            Some(_) if options != TransportOptions::default() => Err(Error::invalid_argument(
                "transport_options",
                "must stay at its default when a shared transport is given: the transport brings its own retry, timeouts, body limit, allow_insecure_http and root certificates",
            )),
            Some(transport) => Ok(transport),
        }
    }

    /// The options this transport was built with.
    pub fn options(&self) -> &TransportOptions {
        &self.options
    }
}
