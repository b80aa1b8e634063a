//! The alert queue's consumer: fan-out, signed delivery with a timeout,
//! retries with backoff, and the dead-letter queue's record.

use chrono::{DateTime, Utc};

use futures_util::future::{join_all, select, Either};
use worker::{
    event, AbortController, Context, Delay, Env, Fetch, Headers, MessageBatch, MessageExt, Method,
    QueueRetryOptionsBuilder, Request, RequestInit, RequestRedirect,
};

use super::endpoints::{self, Endpoint};
use super::{AlertConfig, AlertMessage, DEAD_LETTER_QUEUE, QUEUE_BINDING};
use crate::alerts::records::{self, Status, Subject};
use crate::alerts::{retry, sign};
use crate::worker::bindings::Bindings;
use crate::worker::clock::Clock;
use crate::worker::d1::D1;

/// How a try ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The receiver's status code, if it answered.
    pub response_code: Option<u16>,
    /// What went wrong, if anything (a non-2xx answer, a timeout, no
    /// connection).
    pub error: Option<String>,
}

impl Outcome {
    /// True when the receiver took it (a 2xx).
    pub fn delivered(&self) -> bool {
        self.response_code.is_some_and(retry::delivered)
    }
}

/// Posts `body` to `endpoint`, signed at `now`'s second with each secret
/// it signs with at `now` (two while a rotation's overlap lasts), with the
/// event's id in `X-Budget-Event-Id`; cut after `timeout_ms`. Redirects
/// are not followed (a 3xx is a failure).
pub async fn post(
    endpoint: &Endpoint,
    event_id: &str,
    body: &str,
    config: &AlertConfig,
    now: DateTime<Utc>,
) -> Outcome {
    let failed = |error: String| Outcome {
        response_code: None,
        error: Some(error),
    };
    let timeout_ms = config.timeout_ms;
    // Judged again as it is sent: a URL saved under older rules that the
    // rules in force refuse is never fetched.
    if let Err(refused) = crate::alerts::endpoint::check(&endpoint.url, config.environment) {
        return failed(format!("the webhook URL is refused: {}", refused.message));
    }
    let t = now.timestamp();
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set("User-Agent", "ai-budget-alerts/1");
    let _ = headers.set("X-Budget-Event-Id", event_id);
    let _ = headers.set(
        sign::HEADER,
        &sign::signature_with(&endpoint.signing_secrets(now), t, body.as_bytes()),
    );
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_redirect(RequestRedirect::Manual)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let request = match Request::new_with_init(&endpoint.url, &init) {
        Ok(request) => request,
        Err(e) => return failed(format!("the request could not be made: {e}")),
    };
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sent = select(
        Box::pin(fetch.send_with_signal(&signal)),
        Delay::from(std::time::Duration::from_millis(timeout_ms)),
    )
    .await;
    match sent {
        Either::Left((Ok(response), _)) => {
            let code = response.status_code();
            Outcome {
                response_code: Some(code),
                error: (!retry::delivered(code)).then(|| format!("the receiver answered {code}")),
            }
        }
        Either::Left((Err(e), _)) => failed(format!("the receiver could not be reached: {e}")),
        Either::Right(_) => {
            controller.abort();
            failed(format!(
                "the receiver did not answer within {timeout_ms} ms"
            ))
        }
    }
}

/// Queues an event for fan-out to the port's endpoints (a resend, or the
/// object's outbox).
///
/// # Errors
/// When the queue is missing or refuses it.
pub async fn enqueue(env: &Env, message: &AlertMessage) -> worker::Result<()> {
    env.queue(QUEUE_BINDING)?.send(message).await
}

/// The alert queues' consumer (`ai-budget-alerts` and its dead-letter
/// queue).
#[event(queue)]
pub async fn consume(
    batch: MessageBatch<AlertMessage>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    let dead = batch.queue() == DEAD_LETTER_QUEUE;
    let bindings = Bindings::of_event(env);
    let (seams, env) = (bindings.seams, &bindings.env);
    let config = AlertConfig::of(env);
    let Ok(d1) = bindings.d1() else {
        worker::console_error!("alerts: the DB binding is missing");
        batch.retry_all();
        return Ok(());
    };
    let kv = bindings
        .kv()
        .map_err(|e| worker::Error::RustError(format!("{e:?}")))?;
    let messages = batch.messages()?;
    let work = messages.iter().map(|message| {
        let (d1, kv) = (&d1, &kv);
        async move {
            let m = message.body();
            let clock = Clock::for_request(seams, m.now.as_deref());
            let now_ms = || clock.now().timestamp_millis();
            if dead {
                let endpoint = m.endpoint.as_deref().unwrap_or("");
                let subject = Subject { port: &m.port, event_id: &m.event_id, endpoint, body: &m.body };
                let statements = if m.endpoint.is_some() {
                    vec![records::dead(&m.port, &m.event_id, endpoint, now_ms())]
                } else {
                    vec![records::start(&subject, Status::Dead, now_ms())]
                };
                worker::console_warn!(
                    "alerts: event {} for port {} to {endpoint:?} failed every try (dead-letter queue)",
                    m.event_id, m.port
                );
                match d1.run("d1.alerts", &statements).await {
                    Ok(_) => message.ack(),
                    Err(e) => {
                        worker::console_error!("alerts: recording a dead delivery: {e:?}");
                        message.retry();
                    }
                }
                return;
            }
            let done = match &m.endpoint {
                None => fan_out(env, d1, kv, m, clock).await,
                Some(url) => deliver(d1, kv, m, url, &config, clock).await,
            };
            match done {
                Ok(None) => message.ack(),
                Ok(Some(delay_seconds)) => message.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(delay_seconds)
                        .build(),
                ),
                Err(e) => {
                    worker::console_warn!("alerts: event {}: {e}", m.event_id);
                    message.retry_with_options(
                        &QueueRetryOptionsBuilder::new()
                            .with_delay_seconds(config.retry_base_seconds)
                            .build(),
                    );
                }
            }
        }
    });
    join_all(work).await;
    Ok(())
}

/// One delivery message per endpoint of the port (its own, else the
/// default), each recorded as pending; none: recorded as `no-endpoint`.
async fn fan_out(
    env: &Env,
    d1: &D1,
    kv: &worker::kv::KvStore,
    m: &AlertMessage,
    clock: Clock,
) -> Result<Option<u32>, String> {
    let targets = endpoints::effective(kv, &m.port)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let now = clock.now().timestamp_millis();
    fn subject<'a>(m: &'a AlertMessage, endpoint: &'a str) -> Subject<'a> {
        Subject {
            port: &m.port,
            event_id: &m.event_id,
            endpoint,
            body: &m.body,
        }
    }
    if targets.is_empty() {
        d1.run(
            "d1.alerts",
            &[records::start(&subject(m, ""), Status::NoEndpoint, now)],
        )
        .await
        .map_err(|e| format!("{e:?}"))?;
        return Ok(None);
    }
    let starts: Vec<_> = targets
        .iter()
        .map(|t| records::start(&subject(m, &t.url), Status::Pending, now))
        .collect();
    d1.run("d1.alerts", &starts)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let queue = env.queue(QUEUE_BINDING).map_err(|e| e.to_string())?;
    let messages: Vec<AlertMessage> = targets
        .iter()
        .map(|t| AlertMessage {
            endpoint: Some(t.url.clone()),
            ..m.clone()
        })
        .collect();
    queue
        .send_batch(messages)
        .await
        .map_err(|e| e.to_string())?;
    Ok(None)
}

/// One try of one delivery: `None` when done (delivered, or the endpoint
/// is gone), else the wait before the next try.
async fn deliver(
    d1: &D1,
    kv: &worker::kv::KvStore,
    m: &AlertMessage,
    url: &str,
    config: &AlertConfig,
    clock: Clock,
) -> Result<Option<u32>, String> {
    let now_ms = || clock.now().timestamp_millis();
    let subject = Subject {
        port: &m.port,
        event_id: &m.event_id,
        endpoint: url,
        body: &m.body,
    };
    let targets = endpoints::effective(kv, &m.port)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let Some(endpoint) = targets.iter().find(|t| t.url == url) else {
        let gone = records::finish(
            &m.port,
            &m.event_id,
            url,
            Status::Dropped,
            None,
            Some("the endpoint was removed"),
            now_ms(),
        );
        d1.run("d1.alerts", &[gone])
            .await
            .map_err(|e| format!("{e:?}"))?;
        return Ok(None);
    };
    let counted = d1
        .run("d1.alerts", &[records::attempt(&subject, now_ms())])
        .await
        .map_err(|e| format!("{e:?}"))?;
    let attempts = records::attempts_of(counted.first().map_or(&[][..], Vec::as_slice));
    let outcome = post(endpoint, &m.event_id, &m.body, config, clock.now()).await;
    let status = if outcome.delivered() {
        Status::Delivered
    } else {
        Status::Failed
    };
    let finish = records::finish(
        &m.port,
        &m.event_id,
        url,
        status,
        outcome.response_code,
        outcome.error.as_deref(),
        now_ms(),
    );
    if let Err(e) = d1.run("d1.alerts", &[finish]).await {
        worker::console_warn!("alerts: recording a delivery of {}: {e:?}", m.event_id);
    }
    if outcome.delivered() {
        Ok(None)
    } else {
        worker::console_warn!(
            "alerts: event {} to {url}: try {attempts} failed: {}",
            m.event_id,
            outcome.error.unwrap_or_default()
        );
        Ok(Some(retry::delay_seconds(
            config.retry_base_seconds,
            attempts,
        )))
    }
}
