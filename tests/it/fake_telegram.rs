//! A fake Telegram Bot API server on 127.0.0.1 for integration tests and benchmarks.
//!
//! Point teloxide at it with `Bot::new(BOT_TOKEN).set_api_url(fake.api_url().parse()?)` (or the
//! `TELOXIDE_API_URL` env var). It keeps an update queue with real `getUpdates` semantics (offset
//! confirmation, limit, long polling, 409 for a second concurrent poller), answers the methods the
//! bot uses with JSON teloxide parses, records every request, and can inject faults (429, 403,
//! 400, 500, delays, hangs) into chosen requests.
//!
//! Shared by `tests/it/main.rs` (`mod fake_telegram;`) and the benches (`#[path = ...]`), so it
//! depends only on axum, tokio and serde_json, and names nothing from the crate.
//!
//! Teloxide quirks worth knowing (checked against teloxide 0.17 / teloxide-core 0.13):
//! - method names arrive PascalCase (`/bot<TOKEN>/SendMessage`); we match them lowercased;
//! - the default reqwest client has a 17 s total timeout, and the `getUpdates` timeout is NOT added
//!   to it, so long-poll timeouts must stay below 17 s (teloxide's own polling uses 10 s);
//! - on any HTTP 5xx teloxide sleeps 10 s before reading the body, so `Fault::ServerError` costs
//!   the caller 10 s of wall time;
//! - an error body with `parameters.retry_after` becomes `RequestError::RetryAfter`, whatever the
//!   description; otherwise the description is matched exactly against `ApiError` variants.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// A token whose numeric prefix matches [`BOT_ID`]; any token is accepted, though.
pub const BOT_TOKEN: &str = "123:ABC";
pub const BOT_ID: i64 = 123;
pub const BOT_USERNAME: &str = "staywell_test_bot";
/// Exact descriptions teloxide maps to specific `ApiError` variants.
pub const BLOCKED: &str = "Forbidden: bot was blocked by the user";
pub const CONFLICT: &str = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
pub const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Method name, lowercased (`sendmessage`, `getupdates`, …).
    pub method: String,
    /// The JSON body; `Null` for multipart requests (see `form`/`files`) and empty bodies.
    pub body: Value,
    /// `chat_id` from the JSON body or the multipart form, when numeric.
    pub chat_id: Option<i64>,
    /// When the request arrived.
    pub at: Instant,
    /// HTTP status sent back; 0 while no response has been sent (in flight, hung, or abandoned by
    /// the client before an answer).
    pub status: u16,
    pub path: String,
    pub content_type: String,
    pub body_len: usize,
    /// Multipart text fields (name, value), in order.
    pub form: Vec<(String, String)>,
    /// Multipart file parts.
    pub files: Vec<FilePart>,
}

#[derive(Clone, Debug)]
pub struct FilePart {
    /// The field the file was sent as (`document`, `photo`), resolved from `attach://` references.
    pub field: String,
    pub file_name: String,
    pub len: usize,
    pub bytes: Vec<u8>,
}

/// A successful `sendMessage`.
#[derive(Clone, Debug)]
pub struct Sent {
    pub message_id: i64,
    pub chat_id: i64,
    pub text: String,
    pub reply_markup: Option<Value>,
    pub body: Value,
    /// When the request arrived.
    pub at: Instant,
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 with `parameters.retry_after = N`.
    RetryAfter(u64),
    /// 500 "Internal Server Error" (teloxide then sleeps 10 s before returning the error).
    ServerError,
    /// 403 with this description (use [`BLOCKED`] for a blocked bot).
    Forbidden(String),
    /// 400 with this description.
    BadRequest(String),
    /// Any status with this description.
    Status(u16, String),
    /// Respond normally after the delay.
    Delay(Duration),
    /// Never respond; the request stays open until the client gives up (even after the server
    /// is dropped: its connection then closes only when the client gives up).
    Hang,
}

/// Read access to the server state for [`FakeTelegram::wait_for`] predicates.
pub struct FakeView<'a> {
    pub requests: &'a [Recorded],
    pub sent: &'a [Sent],
    pub confirmed_offset: i64,
    pub undelivered: usize,
}

impl FakeView<'_> {
    pub fn sent_to(&self, chat_id: i64) -> usize {
        self.sent.iter().filter(|s| s.chat_id == chat_id).count()
    }

    /// Requests of a method (case-insensitive) that got a response with this status.
    pub fn count(&self, method: &str, status: u16) -> usize {
        let method = method.to_ascii_lowercase();
        self.requests
            .iter()
            .filter(|r| r.method == method && r.status == status)
            .count()
    }
}

pub struct FakeTelegram {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Woken on every pushed update: long-polling `getUpdates` handlers wait on it.
    updates: Notify,
    /// Woken on every recorded request / response: `wait_for` waits on it.
    changed: Notify,
    /// Set on drop: long polls then answer at once.
    shutting_down: AtomicBool,
}

#[derive(Default)]
struct Inner {
    next_update_id: i64,
    /// Every update ever pushed, serialized once (responses are built by concatenation).
    updates: HashMap<i64, Arc<str>>,
    /// Updates the client has not confirmed yet, by update_id.
    pending: BTreeMap<i64, Arc<str>>,
    /// Copies to hand out on the next getUpdates regardless of its offset.
    redeliveries: VecDeque<(i64, Arc<str>)>,
    confirmed_offset: i64,
    /// getUpdates handlers currently waiting for updates.
    long_polls: usize,
    faults: VecDeque<(String, Option<i64>, Fault)>,
    requests: Vec<Recorded>,
    sent: Vec<Sent>,
    next_message_id: i64,
    /// The bot's messages: (chat_id, message_id) → (text, reply_markup).
    messages: HashMap<(i64, i64), (String, Option<Value>)>,
    /// The last text message each user sent, for `push_edited_text`.
    last_user_text: HashMap<i64, i64>,
}

impl FakeTelegram {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start() -> FakeTelegram {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake telegram");
        let addr = listener.local_addr().expect("local addr");
        let inner = Inner {
            next_update_id: 1,
            next_message_id: 1000,
            ..Inner::default()
        };
        let shared = Arc::new(Shared {
            inner: Mutex::new(inner),
            updates: Notify::new(),
            changed: Notify::new(),
            shutting_down: AtomicBool::new(false),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024));
        let serve = axum::serve(listener, app).into_future();
        let task = tokio::spawn(async move {
            let _ = serve.await;
        });
        FakeTelegram { shared, addr, task }
    }

    /// `http://127.0.0.1:PORT/`. teloxide appends `bot<TOKEN>/<Method>` as path segments; both
    /// this and the slash-less form work.
    pub fn api_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    // ---- updates -------------------------------------------------------------------------

    /// A private text message from user `chat_id`; returns the update_id.
    pub fn push_text(&self, chat_id: i64, text: &str) -> i64 {
        let mut message = self.user_message(chat_id);
        message["text"] = json!(text);
        let message_id = message["message_id"].as_i64().unwrap_or(0);
        self.lock().last_user_text.insert(chat_id, message_id);
        if text.starts_with('/') {
            // Real Telegram marks a leading command as an entity (length in UTF-16 units).
            let len = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .encode_utf16()
                .count();
            message["entities"] = json!([{ "type": "bot_command", "offset": 0, "length": len }]);
        }
        self.push_update(json!({ "message": message }))
    }

    /// A button press by `from_user_id` on the bot's message `message_id` in `chat_id`.
    pub fn push_callback(
        &self,
        chat_id: i64,
        from_user_id: i64,
        message_id: i64,
        data: &str,
    ) -> i64 {
        let (text, markup) = self
            .lock()
            .messages
            .get(&(chat_id, message_id))
            .cloned()
            .unwrap_or_default();
        let message = bot_message_json(chat_id, message_id, &text, markup.as_ref());
        let id = self.reserve_update_id();
        self.push_update(json!({
            "update_id": id,
            "callback_query": {
                "id": format!("cq{id}"),
                "from": user_json(from_user_id),
                "message": message,
                "chat_instance": format!("ci{chat_id}"),
                "data": data,
            }
        }))
    }

    pub fn push_sticker(&self, chat_id: i64) -> i64 {
        let mut message = self.user_message(chat_id);
        message["sticker"] = json!({
            "file_id": "sticker-file", "file_unique_id": "sticker-unique", "file_size": 1024,
            "width": 512, "height": 512, "type": "regular",
            "is_animated": false, "is_video": false, "emoji": "🙂",
        });
        self.push_update(json!({ "message": message }))
    }

    pub fn push_photo(&self, chat_id: i64) -> i64 {
        let mut message = self.user_message(chat_id);
        message["photo"] = photo_sizes_json("in-photo");
        self.push_update(json!({ "message": message }))
    }

    pub fn push_voice(&self, chat_id: i64) -> i64 {
        let mut message = self.user_message(chat_id);
        message["voice"] = json!({
            "file_id": "voice-file", "file_unique_id": "voice-unique", "file_size": 2048,
            "duration": 3, "mime_type": "audio/ogg",
        });
        self.push_update(json!({ "message": message }))
    }

    /// An `edited_message` for the user's last text message in the chat (or a fresh message id).
    pub fn push_edited_text(&self, chat_id: i64, text: &str) -> i64 {
        let last = self.lock().last_user_text.get(&chat_id).copied();
        let mut message = self.user_message(chat_id);
        if let Some(id) = last {
            message["message_id"] = json!(id);
        }
        message["edit_date"] = json!(unix_now());
        message["text"] = json!(text);
        self.push_update(json!({ "edited_message": message }))
    }

    /// The user blocked the bot (`my_chat_member`, new status "kicked").
    pub fn push_kicked(&self, chat_id: i64) -> i64 {
        self.push_my_chat_member(chat_id, "member", "kicked")
    }

    /// A `my_chat_member` update in a private chat; statuses: "member", "kicked" or "left".
    pub fn push_my_chat_member(&self, chat_id: i64, old_status: &str, new_status: &str) -> i64 {
        let member = |status: &str| {
            let mut m = json!({ "user": bot_user_json(), "status": status });
            if status == "kicked" {
                m["until_date"] = json!(0);
            }
            m
        };
        self.push_update(json!({
            "my_chat_member": {
                "chat": private_chat_json(chat_id),
                "from": user_json(chat_id),
                "date": unix_now(),
                "old_chat_member": member(old_status),
                "new_chat_member": member(new_status),
            }
        }))
    }

    /// Queues a raw update; assigns `update_id` if absent. Returns the update_id.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let mut inner = self.lock();
        let id = match update.get("update_id").and_then(Value::as_i64) {
            Some(id) => id,
            None => {
                update["update_id"] = json!(inner.next_update_id);
                inner.next_update_id
            }
        };
        inner.next_update_id = inner.next_update_id.max(id + 1);
        let text: Arc<str> = update.to_string().into();
        inner.updates.insert(id, text.clone());
        inner.pending.insert(id, text);
        drop(inner);
        self.shared.updates.notify_waiters();
        self.shared.changed.notify_waiters();
        id
    }

    /// Hands an already pushed update out again on the next getUpdates, even if it was
    /// confirmed (Telegram re-delivery). A no-op while the update is still unconfirmed.
    pub fn redeliver(&self, update_id: i64) {
        let mut inner = self.lock();
        if inner.pending.contains_key(&update_id) {
            return;
        }
        let update = inner.updates.get(&update_id).cloned();
        let update =
            update.unwrap_or_else(|| panic!("redeliver: no update {update_id} was pushed"));
        inner.redeliveries.push_back((update_id, update));
        drop(inner);
        self.shared.updates.notify_waiters();
    }

    /// The highest offset the client confirmed via getUpdates (0 before any).
    pub fn confirmed_offset(&self) -> i64 {
        self.lock().confirmed_offset
    }

    /// Updates not yet confirmed (plus queued re-deliveries).
    pub fn undelivered(&self) -> usize {
        let inner = self.lock();
        inner.pending.len() + inner.redeliveries.len()
    }

    // ---- faults and inspection -------------------------------------------------------------

    /// The next request of `method` (case-insensitive; to `chat_id`, or any chat when `None`)
    /// gets `fault`. Each fault is used once; faults are matched in the order injected.
    pub fn inject(&self, method: &str, chat_id: Option<i64>, fault: Fault) {
        self.lock()
            .faults
            .push_back((method.to_ascii_lowercase(), chat_id, fault));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Requests of one method (case-insensitive), in arrival order.
    pub fn requests_for(&self, method: &str) -> Vec<Recorded> {
        let method = method.to_ascii_lowercase();
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    }

    /// Successful sendMessage calls, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    pub fn sent_to(&self, chat_id: i64) -> Vec<Sent> {
        self.lock()
            .sent
            .iter()
            .filter(|s| s.chat_id == chat_id)
            .cloned()
            .collect()
    }

    /// The bot's message as it is now (after any edits): its text and inline keyboard.
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<(String, Option<Value>)> {
        self.lock().messages.get(&(chat_id, message_id)).cloned()
    }

    /// Waits until `pred` holds, re-checking on every change (and every 10 ms). Panics after
    /// `timeout` with `what` and the recorded requests. A bounded wait, not a timing assertion.
    pub async fn wait_for<F: Fn(&FakeView) -> bool>(&self, timeout: Duration, what: &str, pred: F) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.check(&pred) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.dump()
                );
            }
            let tick = deadline.min(tokio::time::Instant::now() + Duration::from_millis(10));
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(tick) => {}
            }
        }
    }

    /// Waits until `count` messages were sent to `chat_id`; returns all sent to it.
    pub async fn wait_for_sent(&self, chat_id: i64, count: usize, timeout: Duration) -> Vec<Sent> {
        let what = format!("{count} message(s) sent to chat {chat_id}");
        self.wait_for(timeout, &what, |v| v.sent_to(chat_id) >= count)
            .await;
        self.sent_to(chat_id)
    }

    /// The recorded requests, one line each (the last 200), for failure messages.
    pub fn dump(&self) -> String {
        let inner = self.lock();
        let skip = inner.requests.len().saturating_sub(200);
        let mut out = format!(
            "{} request(s), {} sent, confirmed offset {}, {} undelivered:\n",
            inner.requests.len(),
            inner.sent.len(),
            inner.confirmed_offset,
            inner.pending.len() + inner.redeliveries.len()
        );
        for r in &inner.requests[skip..] {
            let chat = r.chat_id.map_or("-".to_string(), |c| c.to_string());
            out.push_str(&format!(
                "  {} chat={} status={}\n",
                r.method, chat, r.status
            ));
        }
        out
    }

    fn check<F: Fn(&FakeView) -> bool>(&self, pred: &F) -> bool {
        let inner = self.lock();
        let view = FakeView {
            requests: &inner.requests,
            sent: &inner.sent,
            confirmed_offset: inner.confirmed_offset,
            undelivered: inner.pending.len() + inner.redeliveries.len(),
        };
        pred(&view)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }

    fn reserve_update_id(&self) -> i64 {
        let mut inner = self.lock();
        inner.next_update_id += 1;
        inner.next_update_id - 1
    }

    /// A private message skeleton from user `chat_id` with a fresh message_id.
    fn user_message(&self, chat_id: i64) -> Value {
        let mut inner = self.lock();
        let message_id = inner.next_message_id;
        inner.next_message_id += 1;
        json!({
            "message_id": message_id,
            "from": user_json(chat_id),
            "chat": private_chat_json(chat_id),
            "date": unix_now(),
        })
    }
}

// ---- Telegram's flood limits, counted as Telegram counts them --------------------------------
//
// Telegram counts a bot's messages over any sliding second, at the moment each request arrives
// (not in fixed windows, and whatever the answer). Every call that puts a message in a chat or
// changes one counts: sendMessage, sendPhoto, sendDocument, editMessageText and
// editMessageReplyMarkup. answerCallbackQuery and getUpdates do not.

/// Methods (lowercased) that count against the global message limit.
pub const PACED_METHODS: [&str; 5] = [
    "sendmessage",
    "sendphoto",
    "senddocument",
    "editmessagetext",
    "editmessagereplymarkup",
];

/// Over a sorted list of arrival times: (the number of arrivals at which the `window` ending
/// at that arrival, inclusive, held more than `limit` arrivals; the most arrivals any such
/// window held). An arrival exactly `window` after another is outside that one's window.
pub fn sliding_window_violations(
    arrivals: &[Instant],
    limit: usize,
    window: Duration,
) -> (usize, usize) {
    let mut violations = 0;
    let mut worst = 0;
    let mut start = 0;
    for (i, at) in arrivals.iter().enumerate() {
        while at.duration_since(arrivals[start]) >= window {
            start += 1;
        }
        let held = i - start + 1;
        worst = worst.max(held);
        if held > limit {
            violations += 1;
        }
    }
    (violations, worst)
}

impl FakeTelegram {
    /// Arrival times of every request that counts against the global limit, in order.
    pub fn paced_arrivals(&self) -> Vec<Instant> {
        let mut at: Vec<Instant> = self
            .lock()
            .requests
            .iter()
            .filter(|r| PACED_METHODS.contains(&r.method.as_str()))
            .map(|r| r.at)
            .collect();
        at.sort();
        at
    }

    /// Telegram's view of the global limit: (arrivals at which the preceding `window` held
    /// more than `limit` paced calls, the worst count in any window). See
    /// [`sliding_window_violations`].
    pub fn window_violations(&self, limit: usize, window: Duration) -> (usize, usize) {
        sliding_window_violations(&self.paced_arrivals(), limit, window)
    }

    /// The latest `sendMessage` to each chat as it is now (after edits), with how many were
    /// sent to that chat: chat → (count, message_id, text, reply_markup). One pass, one lock,
    /// for drivers that look at many chats often.
    pub fn latest_to_each_chat(&self) -> HashMap<i64, (usize, i64, String, Option<Value>)> {
        let inner = self.lock();
        let mut counts: HashMap<i64, usize> = HashMap::new();
        let mut latest: HashMap<i64, i64> = HashMap::new();
        for s in &inner.sent {
            *counts.entry(s.chat_id).or_default() += 1;
            latest.insert(s.chat_id, s.message_id);
        }
        latest
            .into_iter()
            .map(|(chat, id)| {
                let (text, markup) = inner.messages.get(&(chat, id)).cloned().unwrap_or_default();
                (chat, (counts[&chat], id, text, markup))
            })
            .collect()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        // Aborting the serve task stops accepting and drops axum's shutdown signal, so each open
        // keep-alive connection closes once its in-flight request ends. Long polls end now.
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        self.shared.updates.notify_waiters();
        self.task.abort();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not hide the state from other assertions.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

// ---- JSON builders ---------------------------------------------------------------------------

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as i64)
}

/// The user behind private chat `id`.
pub fn user_json(id: i64) -> Value {
    json!({
        "id": id, "is_bot": false, "first_name": format!("User{id}"),
        "username": format!("user{id}"), "language_code": "en",
    })
}

pub fn bot_user_json() -> Value {
    json!({ "id": BOT_ID, "is_bot": true, "first_name": "Staywell", "username": BOT_USERNAME })
}

pub fn private_chat_json(id: i64) -> Value {
    json!({ "id": id, "type": "private", "first_name": format!("User{id}"), "username": format!("user{id}") })
}

/// A message the bot sent. Only inline keyboards appear in a Message's `reply_markup`.
pub fn bot_message_json(
    chat_id: i64,
    message_id: i64,
    text: &str,
    markup: Option<&Value>,
) -> Value {
    let mut m = json!({
        "message_id": message_id,
        "from": bot_user_json(),
        "chat": private_chat_json(chat_id),
        "date": unix_now(),
        "text": text,
    });
    if let Some(markup) = markup.filter(|m| m.get("inline_keyboard").is_some()) {
        m["reply_markup"] = markup.clone();
    }
    m
}

fn photo_sizes_json(prefix: &str) -> Value {
    json!([
        { "file_id": format!("{prefix}-small"), "file_unique_id": format!("{prefix}-s"), "file_size": 1500, "width": 90, "height": 90 },
        { "file_id": format!("{prefix}-large"), "file_unique_id": format!("{prefix}-l"), "file_size": 60000, "width": 800, "height": 800 },
    ])
}

// ---- HTTP handling ---------------------------------------------------------------------------

type Reply = (u16, String);

fn ok(result: Value) -> Reply {
    (200, json!({ "ok": true, "result": result }).to_string())
}

fn err(code: u16, description: &str) -> Reply {
    (
        code,
        json!({ "ok": false, "error_code": code, "description": description }).to_string(),
    )
}

fn fault_reply(fault: &Fault) -> Reply {
    match fault {
        Fault::RetryAfter(secs) => {
            let body = json!({
                "ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {secs}"),
                "parameters": { "retry_after": secs },
            });
            (429, body.to_string())
        }
        Fault::ServerError => err(500, "Internal Server Error"),
        Fault::Forbidden(d) => err(403, d),
        Fault::BadRequest(d) => err(400, d),
        Fault::Status(code, d) => err(*code, d),
        Fault::Delay(_) | Fault::Hang => unreachable!("not an error reply"),
    }
}

/// `/…/bot<TOKEN>/<Method>` → lowercased method; tolerant of extra or doubled slashes.
fn method_of(path: &str) -> Option<String> {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    segments.find(|s| s.starts_with("bot"))?;
    segments.next().map(str::to_ascii_lowercase)
}

fn chat_id_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let at = Instant::now();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let method = method_of(uri.path()).unwrap_or_default();
    let (body, form, files) = if content_type.starts_with("multipart/form-data") {
        let (form, files) = parse_multipart(&content_type, &bytes);
        (Value::Null, form, files)
    } else {
        (
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Vec::new(),
            Vec::new(),
        )
    };
    let chat_id = chat_id_of(body.get("chat_id")).or_else(|| {
        form.iter()
            .find(|(k, _)| k == "chat_id")
            .and_then(|(_, v)| v.parse().ok())
    });

    // Record on arrival (status 0), and take the first matching fault, under one lock.
    let (index, fault) = {
        let mut inner = shared.lock();
        inner.requests.push(Recorded {
            method: method.clone(),
            body: body.clone(),
            chat_id,
            at,
            status: 0,
            path: uri.path().to_string(),
            content_type,
            body_len: bytes.len(),
            form: form.clone(),
            files: files.clone(),
        });
        let pos = inner
            .faults
            .iter()
            .position(|(m, c, _)| *m == method && (c.is_none() || *c == chat_id));
        let fault = pos.and_then(|p| inner.faults.remove(p)).map(|(_, _, f)| f);
        (inner.requests.len() - 1, fault)
    };
    shared.changed.notify_waiters();

    let (status, text) = match fault {
        // Pending until hyper drops this future because the client closed the connection.
        Some(Fault::Hang) => std::future::pending().await,
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            dispatch(&shared, &method, &body, chat_id, &form, &files, at).await
        }
        Some(f) => fault_reply(&f),
        None => dispatch(&shared, &method, &body, chat_id, &form, &files, at).await,
    };

    shared.lock().requests[index].status = status;
    shared.changed.notify_waiters();
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

async fn dispatch(
    shared: &Arc<Shared>,
    method: &str,
    body: &Value,
    chat_id: Option<i64>,
    form: &[(String, String)],
    files: &[FilePart],
    at: Instant,
) -> Reply {
    match method {
        "getupdates" => get_updates(shared, body).await,
        "getme" => {
            let mut me = bot_user_json();
            for flag in [
                "can_join_groups",
                "can_read_all_group_messages",
                "supports_inline_queries",
            ] {
                me[flag] = json!(false);
            }
            me["can_connect_to_business"] = json!(false);
            me["has_main_web_app"] = json!(false);
            ok(me)
        }
        "getwebhookinfo" => {
            ok(json!({ "url": "", "has_custom_certificate": false, "pending_update_count": 0 }))
        }
        "getmycommands" => ok(json!([])),
        "answercallbackquery"
        | "deletemessage"
        | "deletewebhook"
        | "setwebhook"
        | "setmycommands"
        | "deletemycommands"
        | "sendchataction"
        | "setchatmenubutton"
        | "setmydescription"
        | "setmyshortdescription"
        | "setmyname"
        | "pinchatmessage"
        | "unpinchatmessage"
        | "close"
        | "logout" => {
            if method == "deletemessage" {
                let message_id = body.get("message_id").and_then(Value::as_i64).unwrap_or(0);
                shared
                    .lock()
                    .messages
                    .remove(&(chat_id.unwrap_or(0), message_id));
            }
            ok(json!(true))
        }
        "sendmessage" => send_message(shared, body, chat_id, at),
        "editmessagetext" | "editmessagereplymarkup" => edit_message(shared, method, body, chat_id),
        "senddocument" | "sendphoto" => send_file(shared, method, chat_id, form, files),
        _ => err(404, "Not Found: method not found"),
    }
}

fn send_message(shared: &Shared, body: &Value, chat_id: Option<i64>, at: Instant) -> Reply {
    let Some(chat_id) = chat_id else {
        return err(400, "Bad Request: chat_id is empty");
    };
    let text = body.get("text").and_then(Value::as_str).unwrap_or("");
    if text.trim().is_empty() {
        return err(400, "Bad Request: message text is empty");
    }
    // With a parse_mode the limit applies after parsing entities, which we don't do.
    if body.get("parse_mode").is_none() && text.encode_utf16().count() > 4096 {
        return err(400, "Bad Request: message is too long");
    }
    let markup = body.get("reply_markup").filter(|m| !m.is_null()).cloned();
    if markup.as_ref().is_some_and(|m| !callback_data_valid(m)) {
        return err(400, "Bad Request: BUTTON_DATA_INVALID");
    }
    let mut inner = shared.lock();
    let message_id = inner.next_message_id;
    inner.next_message_id += 1;
    inner
        .messages
        .insert((chat_id, message_id), (text.to_string(), markup.clone()));
    inner.sent.push(Sent {
        message_id,
        chat_id,
        text: text.to_string(),
        reply_markup: markup.clone(),
        body: body.clone(),
        at,
    });
    drop(inner);
    let mut message = bot_message_json(chat_id, message_id, text, markup.as_ref());
    if body.get("protect_content").and_then(Value::as_bool) == Some(true) {
        message["has_protected_content"] = json!(true);
    }
    ok(message)
}

/// Telegram rejects inline buttons whose callback_data is empty or over 64 bytes.
fn callback_data_valid(markup: &Value) -> bool {
    let Some(rows) = markup.get("inline_keyboard").and_then(Value::as_array) else {
        return true;
    };
    rows.iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|b| b.get("callback_data").and_then(Value::as_str))
        .all(|d| !d.is_empty() && d.len() <= 64)
}

fn edit_message(shared: &Shared, method: &str, body: &Value, chat_id: Option<i64>) -> Reply {
    if body.get("inline_message_id").is_some() {
        return ok(json!(true));
    }
    let Some(chat_id) = chat_id else {
        return err(400, "Bad Request: chat_id is empty");
    };
    let message_id = body.get("message_id").and_then(Value::as_i64).unwrap_or(0);
    let markup = body.get("reply_markup").filter(|m| !m.is_null()).cloned();
    if markup.as_ref().is_some_and(|m| !callback_data_valid(m)) {
        return err(400, "Bad Request: BUTTON_DATA_INVALID");
    }
    let mut inner = shared.lock();
    let entry = inner.messages.entry((chat_id, message_id)).or_default();
    if method == "editmessagetext" {
        entry.0 = body
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
    }
    // Like Telegram, an edit without reply_markup removes the inline keyboard.
    entry.1 = markup;
    let (text, markup) = entry.clone();
    drop(inner);
    let mut message = bot_message_json(chat_id, message_id, &text, markup.as_ref());
    message["edit_date"] = json!(unix_now());
    ok(message)
}

fn send_file(
    shared: &Shared,
    method: &str,
    chat_id: Option<i64>,
    form: &[(String, String)],
    files: &[FilePart],
) -> Reply {
    let Some(chat_id) = chat_id else {
        return err(400, "Bad Request: chat_id is empty");
    };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let message_id = {
        let mut inner = shared.lock();
        inner.next_message_id += 1;
        inner.next_message_id - 1
    };
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user_json(),
        "chat": private_chat_json(chat_id),
        "date": unix_now(),
    });
    if let Some(caption) = field("caption") {
        message["caption"] = json!(caption);
    }
    let markup = field("reply_markup").and_then(|m| serde_json::from_str::<Value>(m).ok());
    if let Some(markup) = markup.filter(|m| m.get("inline_keyboard").is_some()) {
        message["reply_markup"] = markup;
    }
    let file = files.first();
    let size = file.map_or(0, |f| f.len);
    if method == "sendphoto" {
        message["photo"] = photo_sizes_json(&format!("photo{message_id}"));
    } else {
        message["document"] = json!({
            "file_id": format!("doc{message_id}"),
            "file_unique_id": format!("udoc{message_id}"),
            "file_size": size,
            "file_name": file.map_or("file", |f| f.file_name.as_str()),
            "mime_type": "application/octet-stream",
        });
    }
    ok(message)
}

/// A waiting getUpdates; decrements `long_polls` even when the client gives up and hyper drops
/// the handler future.
struct LongPoll<'a>(&'a Shared);
impl Drop for LongPoll<'_> {
    fn drop(&mut self) {
        self.0.lock().long_polls -= 1;
    }
}

/// Long-polling getUpdates with Telegram's offset/limit/timeout semantics.
async fn get_updates(shared: &Arc<Shared>, body: &Value) -> Reply {
    let offset = body.get("offset").and_then(Value::as_i64).unwrap_or(0);
    let limit = body
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(100)
        .clamp(1, 100) as usize;
    let timeout = body.get("timeout").and_then(Value::as_u64).unwrap_or(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);

    let mut long_poll: Option<LongPoll> = None;

    loop {
        // Register for wake-ups before looking, so a push between the look and the wait counts.
        let notified = shared.updates.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut inner = shared.lock();
            if long_poll.is_none() {
                // First look: conflict check and offset confirmation happen once, on arrival.
                if inner.long_polls > 0 {
                    return err(409, CONFLICT);
                }
                confirm(&mut inner, offset);
            }
            let batch = take_batch(&mut inner, limit);
            let stopping = shared.shutting_down.load(Ordering::SeqCst);
            if !batch.is_empty()
                || timeout == 0
                || tokio::time::Instant::now() >= deadline
                || stopping
            {
                drop(inner);
                drop(long_poll);
                return (
                    200,
                    format!("{{\"ok\":true,\"result\":[{}]}}", batch.join(",")),
                );
            }
            if long_poll.is_none() {
                inner.long_polls += 1;
                long_poll = Some(LongPoll(shared));
            }
        }
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Forgets updates below `offset`; a negative offset keeps only the last `-offset` ones.
fn confirm(inner: &mut Inner, offset: i64) {
    if offset > 0 {
        inner.pending = inner.pending.split_off(&offset);
        inner.confirmed_offset = inner.confirmed_offset.max(offset);
    } else if offset < 0 {
        let keep = offset.unsigned_abs() as usize;
        while inner.pending.len() > keep {
            inner.pending.pop_first();
        }
        if let Some((&first, _)) = inner.pending.first_key_value() {
            inner.confirmed_offset = inner.confirmed_offset.max(first);
        }
    }
}

/// Re-deliveries first, then unconfirmed updates oldest first, at most `limit`.
fn take_batch(inner: &mut Inner, limit: usize) -> Vec<Arc<str>> {
    let mut batch = Vec::new();
    while batch.len() < limit {
        let Some((_, update)) = inner.redeliveries.pop_front() else {
            break;
        };
        batch.push(update);
    }
    let room = limit - batch.len();
    batch.extend(inner.pending.values().take(room).cloned());
    batch
}

/// A minimal multipart/form-data reader: text fields and file parts (name, filename, size).
fn parse_multipart(content_type: &str, body: &[u8]) -> (Vec<(String, String)>, Vec<FilePart>) {
    let mut form = Vec::new();
    let mut files = Vec::new();
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
    else {
        return (form, files);
    };
    let delimiter = format!("--{boundary}");
    for part in split_bytes(body, delimiter.as_bytes()) {
        let Some(part) = part.strip_prefix(b"\r\n") else {
            continue;
        }; // "--" ends the body
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]);
        let content = &part[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let Some(name) = header_param(&head, "name") else {
            continue;
        };
        match header_param(&head, "filename") {
            Some(file_name) => files.push(FilePart {
                field: name,
                file_name,
                len: content.len(),
                bytes: content.to_vec(),
            }),
            None => form.push((name, String::from_utf8_lossy(content).into_owned())),
        }
    }
    // teloxide names file parts randomly and refers to them as `document=attach://<name>`:
    // report the field the file was attached to instead.
    for file in &mut files {
        let reference = format!("attach://{}", file.field);
        if let Some((field, _)) = form.iter().find(|(_, v)| *v == reference) {
            file.field = field.clone();
        }
    }
    (form, files)
}

/// `; key="value"` from a part's headers.
fn header_param(head: &str, key: &str) -> Option<String> {
    let start = head.find(&format!("; {key}=\""))? + key.len() + 4;
    let len = head[start..].find('"')?;
    Some(head[start..start + len].to_string())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut haystack: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(i) = find(haystack, delimiter) {
        parts.push(&haystack[..i]);
        haystack = &haystack[i + delimiter.len()..];
    }
    parts.push(haystack);
    parts
}

// ---- raw updates (updates the Bot API types may not read) -------------------------------

impl FakeTelegram {
    /// Queues `json`, a JSON object without `update_id`, exactly as written (it need not be
    /// anything `serde_json::Value` can hold, e.g. nested deeper than its recursion limit):
    /// `"update_id":N` is spliced in after its opening brace. Returns N.
    pub fn push_raw(&self, json: String) -> i64 {
        let body = json.trim_start();
        let rest = body
            .strip_prefix('{')
            .expect("push_raw takes a JSON object");
        let id = self.reserve_update_id();
        let sep = if rest.trim_start().starts_with('}') {
            ""
        } else {
            ","
        };
        let text: Arc<str> = format!("{{\"update_id\":{id}{sep}{rest}").into();
        let mut inner = self.lock();
        inner.updates.insert(id, text.clone());
        inner.pending.insert(id, text);
        drop(inner);
        self.shared.updates.notify_waiters();
        self.shared.changed.notify_waiters();
        id
    }
}
