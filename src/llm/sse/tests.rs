use super::*;

fn responses_event(kind: &str, data: &str) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

const CREATED: &str = r#"{"type":"response.created","sequence_number":0,"response":{"id":"r","object":"response","model":"gpt-x","status":"in_progress","output":[],"usage":null}}"#;
const DELTA: &str = r#"{"type":"response.output_text.delta","sequence_number":1,"item_id":"m","output_index":0,"content_index":0,"delta":"say \"usage\": {","logprobs":[]}"#;
const COMPLETED: &str = r#"{"type":"response.completed","sequence_number":2,"response":{"id":"r","object":"response","model":"gpt-x-2026","status":"completed","output":[],"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":20},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":39}}}"#;

#[test]
fn a_responses_stream_is_relayed_whole_and_counted_from_its_terminal_event() {
    let stream = [
        responses_event("response.created", CREATED),
        responses_event("response.output_text.delta", DELTA),
        responses_event("response.completed", COMPLETED),
    ]
    .concat();
    let mut tracker = UsageTracker::new(UsageFormat::OpenAiResponses, false);
    let mut out = Vec::new();
    // Cut in small pieces: events are held back only until they end.
    for piece in stream.as_bytes().chunks(7) {
        out.extend(tracker.feed(piece));
    }
    out.extend(tracker.finish());
    assert_eq!(out, stream.as_bytes());
    assert_eq!(
        tracker.seen().final_usage(),
        Some(TokenCounts {
            input_tokens: 30,
            output_tokens: 9,
            cached_input_tokens: 20,
            cache_write_tokens: 0,
            reasoning_tokens: 4,
        })
    );
    assert_eq!(tracker.seen().model.as_deref(), Some("gpt-x-2026"));
}

#[test]
fn a_responses_stream_cut_before_its_terminal_event_has_no_final_usage() {
    let stream = [
        responses_event("response.created", CREATED),
        responses_event("response.output_text.delta", DELTA),
    ]
    .concat();
    let mut tracker = UsageTracker::new(UsageFormat::OpenAiResponses, false);
    let out = tracker.feed(stream.as_bytes());
    assert_eq!(out, stream.as_bytes());
    assert_eq!(tracker.seen().final_usage(), None);
}

#[test]
fn an_openai_chat_usage_chunk_keeps_its_details_and_is_stripped_when_asked() {
    let usage = "data: {\"choices\":[],\"model\":\"m\",\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":8},\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\ndata: [DONE]\n\n";
    let mut tracker = UsageTracker::new(UsageFormat::OpenAiChat, true);
    let out = tracker.feed(usage.as_bytes());
    assert_eq!(out, b"data: [DONE]\n\n");
    let seen = tracker.seen().final_usage().unwrap();
    assert_eq!(
        (
            seen.input_tokens,
            seen.cached_input_tokens,
            seen.output_tokens,
            seen.reasoning_tokens
        ),
        (10, 8, 3, 2)
    );
}

fn gemini_chunk(text: &str, finish: Option<&str>, usage: &str) -> String {
    let finish = finish.map_or(String::new(), |r| format!(",\"finishReason\":\"{r}\""));
    format!(
        "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{text}\"}}],\"role\":\"model\"}}{finish}}}],\"usageMetadata\":{usage},\"modelVersion\":\"gemini-2.5-flash\"}}\r\n\r\n"
    )
}

#[test]
fn a_gemini_stream_settles_once_from_its_last_cumulative_usage() {
    let stream = [
        gemini_chunk("a", None, r#"{"promptTokenCount":40,"candidatesTokenCount":1,"thoughtsTokenCount":30}"#),
        gemini_chunk("b", None, r#"{"promptTokenCount":40,"candidatesTokenCount":5,"thoughtsTokenCount":30}"#),
        gemini_chunk("c", Some("STOP"), r#"{"promptTokenCount":40,"cachedContentTokenCount":32,"candidatesTokenCount":9,"thoughtsTokenCount":30}"#),
    ]
    .concat();
    let mut tracker = UsageTracker::new(UsageFormat::Gemini, false);
    let mut out = Vec::new();
    for piece in stream.as_bytes().chunks(11) {
        out.extend(tracker.feed(piece));
    }
    out.extend(tracker.finish());
    assert_eq!(out, stream.as_bytes(), "events pass unchanged");
    assert_eq!(
        tracker.seen().final_usage(),
        Some(TokenCounts {
            input_tokens: 40,
            output_tokens: 39,
            cached_input_tokens: 32,
            cache_write_tokens: 0,
            reasoning_tokens: 30,
        })
    );
    assert_eq!(tracker.seen().model.as_deref(), Some("gemini-2.5-flash"));
}

#[test]
fn a_gemini_usage_only_last_chunk_is_final_and_a_cut_stream_is_not() {
    let first = gemini_chunk(
        "a",
        None,
        r#"{"promptTokenCount":12,"candidatesTokenCount":2}"#,
    );
    let mut cut = UsageTracker::new(UsageFormat::Gemini, false);
    cut.feed(first.as_bytes());
    assert_eq!(cut.seen().final_usage(), None, "no finish reason yet");
    assert_eq!(
        cut.seen().input_tokens,
        Some(12),
        "the prompt count is known"
    );
    let usage_only =
        "data: {\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":7}}\r\n\r\n";
    let mut whole = UsageTracker::new(UsageFormat::Gemini, false);
    whole.feed(first.as_bytes());
    whole.feed(usage_only.as_bytes());
    assert_eq!(whole.seen().final_usage(), Some(TokenCounts::new(12, 7)));
}

#[test]
fn a_gemini_stream_for_a_client_without_alt_sse_is_one_json_array() {
    let a = gemini_chunk("a", None, r#"{"promptTokenCount":3}"#);
    let b = gemini_chunk(
        "b",
        Some("STOP"),
        r#"{"promptTokenCount":3,"candidatesTokenCount":2}"#,
    );
    let mut tracker = UsageTracker::new(UsageFormat::Gemini, false).as_json_array();
    let mut out = tracker.feed(format!("{a}{b}").as_bytes());
    out.extend(tracker.finish());
    let array: Value = serde_json::from_slice(&out).unwrap();
    let items = array.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(tracker.seen().final_usage(), Some(TokenCounts::new(3, 2)));
    let mut empty = UsageTracker::new(UsageFormat::Gemini, false).as_json_array();
    assert_eq!(empty.finish(), b"[]");
}

#[test]
fn an_anthropic_stream_keeps_cache_reads_and_writes_from_message_start() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"cache_creation_input_tokens\":7,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":6}}\n\n",
    );
    let mut tracker = UsageTracker::new(UsageFormat::Anthropic, false);
    tracker.feed(stream.as_bytes());
    assert_eq!(
        tracker.seen().final_usage(),
        Some(TokenCounts {
            input_tokens: 112,
            output_tokens: 6,
            cached_input_tokens: 100,
            cache_write_tokens: 7,
            reasoning_tokens: 0,
        })
    );
}

#[test]
fn an_anthropic_stream_keeps_its_service_tier_and_1h_cache_writes() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"cache_creation_input_tokens\":700,\"cache_creation\":{\"ephemeral_5m_input_tokens\":200,\"ephemeral_1h_input_tokens\":500},\"service_tier\":\"priority\",\"output_tokens\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":6}}\n\n",
    );
    let mut tracker = UsageTracker::new(UsageFormat::Anthropic, false);
    tracker.feed(stream.as_bytes());
    assert_eq!(
        tracker.seen().billing,
        Billing {
            service_tier: crate::pricing::billing::ServiceTier::Priority,
            cache_write_1h_tokens: 500
        }
    );
    assert_eq!(
        tracker.seen().final_usage().unwrap().cache_write_tokens,
        700
    );
}

#[test]
fn an_anthropic_message_delta_may_update_one_input_count_alone() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"cache_creation_input_tokens\":7,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"input_tokens\":null,\"cache_read_input_tokens\":300,\"output_tokens\":4}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"input_tokens\":50,\"output_tokens\":9}}\n\n",
    );
    let mut tracker = UsageTracker::new(UsageFormat::Anthropic, false);
    tracker.feed(stream.as_bytes());
    let usage = tracker.seen().final_usage().unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.cache_write_tokens,
            usage.output_tokens
        ),
        (357, 300, 7, 9),
        "uncached 50 + writes 7 + reads 300"
    );
}
