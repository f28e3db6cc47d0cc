//! Lazy, page-at-a-time iteration over list operations.

use std::fmt;

use crate::error::{Error, Result};
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use crate::http::rebase_next_link;

/// How many pages in a row may come back empty while still pointing at a next page before the
/// walk is treated as a service fault (a hostile or broken server could otherwise keep a
/// caller looping forever).
const MAX_EMPTY_PAGES_IN_A_ROW: u32 = 100;

/// Fetches one page: given a path-and-query (`/chat/threads?...`), returns the page's items
/// and its raw `nextLink`.
pub(crate) type FetchPage<T> = Box<dyn FnMut(&str) -> Result<(Vec<T>, Option<String>)> + Send>;

/// One page of a list: its items and the token that resumes the walk after it.
///
/// Hand `continuation_token` to the same list operation's options (`continuation_token`) to
/// continue from the next page later, even from another client or process.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// use acs_chat::ListChatThreadsOptions;
///
/// for topic in ["a", "b", "c"] {
///     chat.create_chat_thread(topic, None)?;
/// }
/// let options = ListChatThreadsOptions { results_per_page: Some(2), ..Default::default() };
/// let mut token = None;
/// let mut seen = 0;
/// loop {
///     let resume = ListChatThreadsOptions { continuation_token: token.take(), ..options.clone() };
///     let page = chat.list_chat_threads(Some(resume)).by_page().next().expect("a page")?;
///     seen += page.items.len();
///     match page.continuation_token {
///         Some(next) => token = Some(next), // e.g. stored and used in a later request
///         None => break,
///     }
/// }
/// assert_eq!(seen, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items of this page, in the order the service sent them.
    pub items: Vec<T>,
    /// The token of the next page (the service's `nextLink`), or `None` on the last page.
    pub continuation_token: Option<String>,
}

enum State {
    /// The next request to make (path and query).
    Next(String),
    /// The arguments were rejected before any request: this error is the only item.
    Failed(Error),
    /// The walk is over (last page seen, or an error was reported).
    Done,
}

/// A lazy iterator over a list operation's items, fetching one page at a time.
///
/// Nothing is sent until the first call to [`next`](Iterator::next). Each page is requested
/// when the previous one is used up, so only one page is held in memory. After an error the
/// pager yields nothing more. [`by_page`](Pager::by_page) walks whole pages instead, each with
/// the continuation token that resumes the walk later.
///
/// The items are `Result`s: to count or gather them, collect into a `Result`
/// (`pager.collect::<Result<Vec<_>, _>>()?.len()`), so that a failed page is an error and not
/// one more item. `Iterator::count()` would count the error as an item.
///
/// Options that cannot be right (a page size outside 1..=200, a negative skip, a continuation
/// token that is empty or belongs to another list) are checked when the pager is made, before
/// any request: such a pager sends nothing and yields
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument) as its first and only item.
///
/// The service's `nextLink` is never followed as-is: its path and query are rebased on the
/// client's own endpoint with the client's `api-version`, so the token never travels to
/// another host.
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// use acs_chat::{ChatClient, CommunicationTokenCredential, ListMessagesOptions};
///
/// let chat = ChatClient::new(&emu.endpoint(), CommunicationTokenCredential::new(token)?)?;
/// let id = chat.create_chat_thread("Pages", None)?.chat_thread.id;
/// let thread = chat.get_chat_thread_client(&id)?;
/// for i in 0..5 {
///     thread.send_message(&format!("message {i}"), None)?;
/// }
/// let options = ListMessagesOptions { results_per_page: Some(2), ..Default::default() };
/// let mut pages = thread.list_messages(Some(options)).by_page();
/// let first = pages.next().expect("a first page")?;
/// assert_eq!(first.items.len(), 2);
///
/// // Later: resume where the first page ended.
/// let resume = ListMessagesOptions {
///     continuation_token: first.continuation_token,
///     ..Default::default()
/// };
/// let rest: Vec<_> = thread.list_messages(Some(resume)).collect::<Result<_, _>>()?;
/// assert_eq!(rest.len(), 5); // three user messages and the thread's two system messages
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "pagers do nothing unless iterated"]
pub struct Pager<T> {
    fetch: FetchPage<T>,
    api_version: String,
    state: State,
    /// The items of the current page not yet handed out.
    buffer: std::vec::IntoIter<T>,
    /// The token after the current page (for `by_page` on a partly used pager).
    current_token: Option<String>,
    empty_in_a_row: u32,
    /// Hashes of the requests this walk has made, so that a next-page link leading back to
    /// any earlier page (A → B → A …) ends the walk instead of looping forever. Eight bytes a
    /// page, not the page.
    visited: HashSet<u64>,
    hasher: RandomState,
}

impl<T> fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pager")
            .field("buffered", &self.buffer.len())
            .field("done", &matches!(self.state, State::Done))
            .field("failed", &matches!(self.state, State::Failed(_)))
            .finish_non_exhaustive()
    }
}

impl<T> Pager<T> {
    /// A pager whose first request is `first` (a path and query).
    pub(crate) fn new(first: String, api_version: &str, fetch: FetchPage<T>) -> Self {
        Pager {
            fetch,
            api_version: api_version.to_string(),
            state: State::Next(first),
            buffer: Vec::new().into_iter(),
            current_token: None,
            empty_in_a_row: 0,
            visited: HashSet::new(),
            hasher: RandomState::new(),
        }
    }

    /// A pager that sends nothing and yields `error` as its only item (options rejected
    /// before any request).
    pub(crate) fn failed(error: Error) -> Self {
        Pager {
            fetch: Box::new(|_: &str| {
                Err(Error::UnexpectedResponse(
                    "a rejected pager never fetches".into(),
                ))
            }),
            api_version: String::new(),
            state: State::Failed(error),
            buffer: Vec::new().into_iter(),
            current_token: None,
            empty_in_a_row: 0,
            visited: HashSet::new(),
            hasher: RandomState::new(),
        }
    }

    /// Walks whole pages instead of items; each [`Page`] carries its continuation token.
    ///
    /// Items of a partly used page that were not handed out yet come first, as a page of
    /// their own.
    ///
    /// ```
    /// # let emu = acs_chat_emulator::Emulator::start()?;
    /// # let (_user, token) = emu.user_with_token();
    /// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
    /// # let thread = chat.get_chat_thread_client(&chat.create_chat_thread("Topic", None)?.chat_thread.id)?;
    /// use acs_chat::ListMessagesOptions;
    ///
    /// for i in 0..3 {
    ///     thread.send_message(&i.to_string(), None)?;
    /// }
    /// let options = ListMessagesOptions { results_per_page: Some(2), ..Default::default() };
    /// let sizes: Vec<usize> = thread
    ///     .list_messages(Some(options))
    ///     .by_page()
    ///     .map(|page| page.map(|p| p.items.len()))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(sizes, [2, 2, 1]); // three messages and the two system messages
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn by_page(self) -> Pages<T> {
        Pages { pager: self }
    }

    /// Fetches the next page. `None` when the walk is over.
    fn next_page(&mut self) -> Option<Result<Page<T>>> {
        let request = match std::mem::replace(&mut self.state, State::Done) {
            State::Next(request) => request,
            State::Failed(error) => return Some(Err(error)),
            State::Done => return None,
        };
        self.visited.insert(self.hasher.hash_one(&request));
        let (items, next_link) = match (self.fetch)(&request) {
            Ok(page) => page,
            Err(e) => return Some(Err(e)),
        };
        let next_link = next_link.filter(|link| !link.trim().is_empty());
        if let Some(next) = rebase_next_link(next_link.as_deref(), &self.api_version) {
            if self.visited.contains(&self.hasher.hash_one(&next)) {
                // This page's items are still handed out; the walk then ends with the error.
                self.state = State::Failed(Error::UnexpectedResponse(
                    "the service's next page link leads back to a page this walk already listed"
                        .into(),
                ));
                return Some(Ok(Page {
                    items,
                    continuation_token: None,
                }));
            }
            if items.is_empty() {
                self.empty_in_a_row += 1;
                if self.empty_in_a_row > MAX_EMPTY_PAGES_IN_A_ROW {
                    return Some(Err(Error::UnexpectedResponse(
                        "the service kept answering empty pages that point to more pages".into(),
                    )));
                }
            } else {
                self.empty_in_a_row = 0;
            }
            self.state = State::Next(next);
        }
        Some(Ok(Page {
            items,
            continuation_token: next_link,
        }))
    }
}

impl<T> Iterator for Pager<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(item) = self.buffer.next() {
                return Some(Ok(item));
            }
            match self.next_page()? {
                Ok(page) => {
                    self.current_token = page.continuation_token;
                    self.buffer = page.items.into_iter();
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The page-by-page form of a [`Pager`], from [`Pager::by_page`].
///
/// ```
/// # let emu = acs_chat_emulator::Emulator::start()?;
/// # let (_user, token) = emu.user_with_token();
/// # let chat = acs_chat::ChatClient::new(&emu.endpoint(), acs_chat::CommunicationTokenCredential::new(token)?)?;
/// chat.create_chat_thread("only", None)?;
/// let mut pages: acs_chat::Pages<_> = chat.list_chat_threads(None).by_page();
/// let page = pages.next().expect("a first page")?;
/// assert_eq!(page.items.len(), 1);
/// assert!(page.continuation_token.is_none());
/// assert!(pages.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "pagers do nothing unless iterated"]
pub struct Pages<T> {
    pager: Pager<T>,
}

impl<T> fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages").field("pager", &self.pager).finish()
    }
}

impl<T> Iterator for Pages<T> {
    type Item = Result<Page<T>>;

    fn next(&mut self) -> Option<Result<Page<T>>> {
        let pager = &mut self.pager;
        if pager.buffer.len() > 0 {
            let items: Vec<T> = pager.buffer.by_ref().collect();
            return Some(Ok(Page {
                items,
                continuation_token: pager.current_token.take(),
            }));
        }
        pager.next_page()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A fake service: `pages[i]` is served for the request naming `page=i`.
    fn fake(
        pages: Vec<(Vec<u32>, Option<&'static str>)>,
    ) -> (Arc<Mutex<Vec<String>>>, FetchPage<u32>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = Arc::clone(&log);
        let fetch: FetchPage<u32> = Box::new(move |req: &str| {
            log2.lock().expect("lock").push(req.to_string());
            let index: usize = req
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("page="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            match pages.get(index) {
                Some((items, next)) => Ok((items.clone(), next.map(str::to_string))),
                None => Err(Error::invalid_argument("page", "no such page")),
            }
        });
        (log, fetch)
    }

    /// Nothing is fetched before the first next().
    #[test]
    fn pager_is_lazy() {
        let (log, fetch) = fake(vec![(vec![1], None)]);
        let pager = Pager::new("/l?page=0".into(), "v", fetch);
        assert!(
            log.lock().expect("lock").is_empty(),
            "fetched before iteration"
        );
        let items: Vec<u32> = pager.map(|r| r.expect("ok")).collect();
        assert_eq!(items, vec![1]);
    }

    /// A failed pager yields its error once, sends nothing, and by_page does the same.
    #[test]
    fn failed_pager_yields_only_its_error() {
        let items: Vec<Result<u32>> =
            Pager::failed(Error::invalid_argument("skip", "negative")).collect();
        assert!(
            matches!(
                items.as_slice(),
                [Err(Error::InvalidArgument { name: "skip", .. })]
            ),
            "items: {items:?}"
        );
        let pages: Vec<Result<Page<u32>>> =
            Pager::failed(Error::invalid_argument("skip", "negative"))
                .by_page()
                .collect();
        assert!(
            matches!(
                pages.as_slice(),
                [Err(Error::InvalidArgument { name: "skip", .. })]
            ),
            "pages: {pages:?}"
        );
    }

    /// Items of all pages come in order; each nextLink is rebased with the client's version.
    #[test]
    fn pager_follows_next_links() {
        let (log, fetch) = fake(vec![
            (
                vec![1, 2],
                Some("https://other.example/l?page=1&api-version=old"),
            ),
            (vec![3, 4], Some("https://other.example/l?page=2")),
            (vec![5], None),
        ]);
        let items: Vec<u32> = Pager::new("/l?page=0".into(), "new", fetch)
            .map(|r| r.expect("ok"))
            .collect();
        assert_eq!(items, vec![1, 2, 3, 4, 5]);
        assert_eq!(
            *log.lock().expect("lock"),
            vec![
                "/l?page=0",
                "/l?page=1&api-version=new",
                "/l?page=2&api-version=new"
            ]
        );
    }

    /// An empty nextLink ends the walk.
    #[test]
    fn pager_stops_at_empty_next_link() {
        let (log, fetch) = fake(vec![(vec![1], Some("")), (vec![2], None)]);
        let items: Vec<u32> = Pager::new("/l?page=0".into(), "v", fetch)
            .map(|r| r.expect("ok"))
            .collect();
        assert_eq!(items, vec![1]);
        assert_eq!(log.lock().expect("lock").len(), 1);
    }

    /// After an error the pager yields nothing more.
    #[test]
    fn pager_ends_after_error() {
        let (log, fetch) = fake(vec![(vec![1], Some("/l?page=7"))]);
        let mut pager = Pager::new("/l?page=0".into(), "v", fetch);
        assert!(matches!(pager.next(), Some(Ok(1))));
        assert!(matches!(pager.next(), Some(Err(_))));
        assert!(pager.next().is_none());
        assert!(pager.next().is_none());
        assert_eq!(log.lock().expect("lock").len(), 2);
    }

    /// by_page yields pages with the service's nextLink as continuation token.
    #[test]
    fn by_page_yields_tokens() {
        let (_log, fetch) = fake(vec![(vec![1, 2], Some("/l?page=1")), (vec![3], None)]);
        let pages: Vec<Page<u32>> = Pager::new("/l?page=0".into(), "v", fetch)
            .by_page()
            .map(|r| r.expect("ok"))
            .collect();
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].items, vec![1, 2]);
        assert_eq!(pages[0].continuation_token.as_deref(), Some("/l?page=1"));
        assert_eq!(pages[1].continuation_token, None);
    }

    /// by_page on a partly used pager first returns the rest of the current page.
    #[test]
    fn by_page_after_next_returns_rest_of_page() {
        let (_log, fetch) = fake(vec![(vec![1, 2, 3], Some("/l?page=1")), (vec![4], None)]);
        let mut pager = Pager::new("/l?page=0".into(), "v", fetch);
        assert!(matches!(pager.next(), Some(Ok(1))));
        let pages: Vec<Vec<u32>> = pager.by_page().map(|r| r.expect("ok").items).collect();
        assert_eq!(pages, vec![vec![2, 3], vec![4]]);
    }

    /// A page whose nextLink is itself hands out its items, then ends the walk with an error.
    #[test]
    fn pager_rejects_self_referencing_page_with_items() {
        let (log, fetch) = fake(vec![(vec![1, 2], Some("/l?page=0"))]);
        let results: Vec<Result<u32>> =
            Pager::new("/l?page=0&api-version=v".into(), "v", fetch).collect();
        assert_eq!(results.len(), 3, "results: {results:?}");
        assert!(
            matches!(results[..2], [Ok(1), Ok(2)]),
            "results: {results:?}"
        );
        assert!(matches!(results[2], Err(Error::UnexpectedResponse(_))));
        assert_eq!(log.lock().expect("lock").len(), 1);
    }

    /// Pages whose links cycle (A → B → A) end the walk with an error instead of looping.
    #[test]
    fn pager_rejects_cycling_next_links() {
        let fetch: FetchPage<u32> = Box::new(|req: &str| {
            if req.contains("page=a") {
                Ok((vec![1], Some("/l?page=b".to_string())))
            } else {
                Ok((vec![2], Some("/l?page=a".to_string())))
            }
        });
        let results: Vec<Result<u32>> =
            Pager::new("/l?page=a&api-version=v".into(), "v", fetch).collect();
        assert_eq!(results.len(), 3, "results: {results:?}");
        assert!(
            matches!(results[0], Ok(1)) && matches!(results[1], Ok(2)),
            "results: {results:?}"
        );
        assert!(
            matches!(results[2], Err(Error::UnexpectedResponse(_))),
            "results: {results:?}"
        );
    }

    /// Endless empty pages with fresh links end after a bounded number of requests.
    #[test]
    fn pager_bounds_endless_empty_pages() {
        let fetch: FetchPage<u32> = Box::new(|req: &str| {
            let n: u64 = req
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("n="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            Ok((vec![], Some(format!("/l?n={}", n + 1))))
        });
        let results: Vec<Result<u32>> = Pager::new("/l?n=0".into(), "v", fetch).collect();
        assert_eq!(results.len(), 1, "results: {results:?}");
        assert!(matches!(results[0], Err(Error::UnexpectedResponse(_))));
    }

    /// A server that keeps pointing at itself with empty pages cannot loop a caller forever.
    #[test]
    fn pager_rejects_self_referencing_empty_pages() {
        let (log, fetch) = fake(vec![(vec![], Some("/l?page=0"))]);
        let results: Vec<Result<u32>> =
            Pager::new("/l?page=0&api-version=v".into(), "v", fetch).collect();
        assert_eq!(results.len(), 1, "results: {results:?}");
        assert!(matches!(results[0], Err(Error::UnexpectedResponse(_))));
        assert_eq!(log.lock().expect("lock").len(), 1);
    }
}
