//! The outcome → response table, row by row.

use http::{header, HeaderValue, StatusCode};
use http_body_util::BodyExt;

use super::*;
use crate::room::{Position, PreQueueWait};

const POS: Position = Position {
    ahead: 4,
    behind: 2,
    eta_seconds: Some(30),
    poll_ms: 3_000,
};
const PRE: PreQueueWait = PreQueueWait {
    starts_in: 60,
    starts_at_ms: 1_800_000_060_000,
    poll_ms: 7_000,
};

fn body_of(r: Response<Body>) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bytes = rt.block_on(r.into_body().collect()).unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn every_standing_has_one_status_retry_after_and_state() {
    use Asked::{Held, Page, Poll};
    use StatusCode as S;
    #[rustfmt::skip]
    let table: &[(Standing, Asked, StatusCode, Option<u64>, State)] = &[
        (Standing::Waiting(POS, false), Page, S::OK, None, State::Waiting),
        (Standing::Waiting(POS, false), Poll, S::OK, None, State::Waiting),
        (Standing::Waiting(POS, false), Held, S::SERVICE_UNAVAILABLE, Some(3), State::Waiting),
        (Standing::Waiting(POS, true), Poll, S::OK, None, State::Paused),
        (Standing::Waiting(POS, true), Held, S::SERVICE_UNAVAILABLE, Some(3), State::Paused),
        (Standing::PreQueue(PRE), Page, S::OK, None, State::Waiting),
        (Standing::PreQueue(PRE), Poll, S::OK, None, State::Waiting),
        (Standing::PreQueue(PRE), Held, S::SERVICE_UNAVAILABLE, Some(7), State::Waiting),
        (Standing::Closed, Page, S::OK, None, State::Closed),
        (Standing::Closed, Poll, S::OK, None, State::Closed),
        (Standing::Closed, Held, S::SERVICE_UNAVAILABLE, Some(5), State::Closed),
        (Standing::Unavailable, Page, S::SERVICE_UNAVAILABLE, None, State::Unavailable),
        (Standing::Unavailable, Poll, S::SERVICE_UNAVAILABLE, None, State::Unavailable),
        (Standing::Unavailable, Held, S::SERVICE_UNAVAILABLE, Some(5), State::Unavailable),
        (Standing::NotFound, Page, S::NOT_FOUND, None, State::Unavailable),
        (Standing::NotFound, Held, S::NOT_FOUND, Some(5), State::Unavailable),
        (Standing::Challenge(12), Page, S::OK, None, State::Challenge),
        (Standing::Challenge(12), Poll, S::PRECONDITION_REQUIRED, None, State::Challenge),
        (Standing::Challenge(12), Held, S::PRECONDITION_REQUIRED, None, State::Challenge),
        (Standing::TooMany(40), Page, S::TOO_MANY_REQUESTS, None, State::TooMany),
        (Standing::TooMany(40), Poll, S::TOO_MANY_REQUESTS, Some(40), State::TooMany),
        (Standing::TooMany(0), Held, S::TOO_MANY_REQUESTS, Some(1), State::TooMany),
        (Standing::Shared, Page, S::FORBIDDEN, None, State::Shared),
        (Standing::Shared, Held, S::FORBIDDEN, None, State::Shared),
    ];
    for &(standing, asked, status, retry, state) in table {
        let row = format!("{standing:?} {asked:?}");
        assert_eq!(status_of(standing, asked), status, "{row}");
        assert_eq!(retry_after_of(standing, asked), retry, "{row}");
        assert_eq!(standing.state(), state, "{row}");
        if asked == Page {
            continue;
        }
        let body = status_answer(standing, "booking", "/", Some("CH"));
        let r = json(standing, asked, &body);
        assert_eq!(r.status(), status, "{row}");
        let ra = r
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(ra, retry.map(|s| s.to_string()), "{row}");
        let j = body_of(r);
        assert_eq!(j["state"], state.as_str(), "{row}");
        assert_eq!(j["room"], "booking", "{row}");
    }
}

#[test]
fn refusals_carry_the_one_error_shape() {
    for (standing, code) in [
        (Standing::TooMany(9), "too_many"),
        (Standing::Shared, "pass_shared"),
    ] {
        let j = body_of(json(
            standing,
            Asked::Held,
            &status_answer(standing, "booking", "/", None),
        ));
        assert_eq!(j["error"]["code"], code, "{j}");
        assert!(
            j["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{j}"
        );
    }
}

#[test]
fn the_answers_say_what_the_page_script_and_apps_read() {
    let j = body_of(json(
        Standing::Waiting(POS, false),
        Asked::Poll,
        &status_answer(Standing::Waiting(POS, false), "booking", "/x", None),
    ));
    assert_eq!(
        (j["ahead"].as_u64(), j["behind"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(
        (j["eta_seconds"].as_u64(), j["poll_ms"].as_u64()),
        (Some(30), Some(3000))
    );
    assert_eq!(j["return_to"], "/x");
    let j = body_of(json(
        Standing::PreQueue(PRE),
        Asked::Poll,
        &status_answer(Standing::PreQueue(PRE), "booking", "/", None),
    ));
    assert_eq!(j["phase"], "prequeue");
    assert!(j["ahead"].is_null() && j.get("ahead").is_some(), "{j}");
    assert_eq!(j["starts_at_ms"].as_u64(), Some(PRE.starts_at_ms));
    let j = body_of(json(
        Standing::Challenge(12),
        Asked::Poll,
        &status_answer(Standing::Challenge(12), "booking", "/", Some("CH")),
    ));
    assert_eq!(
        (j["challenge"].as_str(), j["difficulty"].as_u64()),
        (Some("CH"), Some(12))
    );
    assert_eq!(j["join"], format!("{JOIN_PATH}?room=booking"));
}

#[test]
fn every_proxy_error_has_one_status_code_and_connection_rule() {
    use StatusCode as S;
    let errors: Vec<(ProxyError, StatusCode, &str, bool)> = vec![
        (
            ProxyError::HeadersTooLarge,
            S::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            true,
        ),
        (
            ProxyError::UriTooLong,
            S::URI_TOO_LONG,
            "uri_too_long",
            true,
        ),
        (
            ProxyError::BodyTooLarge,
            S::PAYLOAD_TOO_LARGE,
            "body_too_large",
            true,
        ),
        (
            ProxyError::ClientBodyTimeout,
            S::REQUEST_TIMEOUT,
            "body_timeout",
            true,
        ),
        (
            ProxyError::BadRequest("x"),
            S::BAD_REQUEST,
            "bad_request",
            true,
        ),
        (
            ProxyError::UpstreamTimeout {
                upstream: "u".into(),
                after: std::time::Duration::from_secs(1),
            },
            S::GATEWAY_TIMEOUT,
            "upstream_timeout",
            false,
        ),
    ];
    let id = HeaderValue::from_static("req-1");
    for (e, status, code, close) in errors {
        assert_eq!(error_shape(&e), (status, code, close), "{e}");
        let r = error(&e, &id, true);
        assert_eq!(r.status(), status);
        assert_eq!(r.headers().contains_key(header::CONNECTION), close, "{e}");
        assert_eq!(
            r.headers().contains_key(header::RETRY_AFTER),
            status.is_server_error(),
            "{e}"
        );
        let j = body_of(r);
        assert_eq!(j["error"]["code"], code, "{e}");
        assert_eq!(j["error"]["request_id"], "req-1");
        assert_eq!(j["error"]["message"], e.visitor_message());
        let html = error(&e, &id, false);
        assert!(html.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
}
