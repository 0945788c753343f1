//! Retries of requests the API server answered "busy" (429, 503, 504), bounded: kube's default
//! policy honours any `Retry-After` (a server saying `Retry-After: 100000` held a run, and its
//! Ctrl-C window, for hours). Here each wait is capped, the waits of one request share a budget,
//! and once the budget is spent the server's answer stands (the caller reports it).

use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use tower::BoxError;
use tower::retry::Policy;

/// Retries of one request at most.
const MAX_RETRIES: u32 = 5;
/// The longest single wait, whatever `Retry-After` says.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// The waits of one request together, unless `--request-timeout` is shorter.
pub const BUDGET: Duration = Duration::from_secs(30);
/// The first backoff without `Retry-After` (doubled each retry).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The bounded policy for one request.
#[derive(Clone, Debug)]
pub struct Bounded {
    attempt: u32,
    waited: Duration,
    budget: Duration,
}

impl Bounded {
    /// A policy whose waits add up to at most `budget` (and [`BUDGET`]).
    pub fn new(budget: Option<Duration>) -> Self {
        Bounded {
            attempt: 0,
            waited: Duration::ZERO,
            budget: budget.map_or(BUDGET, |b| b.min(BUDGET)),
        }
    }

    /// The wait before the next try of an answer with `status` and `retry_after` (seconds),
    /// or `None` when the answer stands.
    pub fn next_wait(&mut self, status: StatusCode, retry_after: Option<&str>) -> Option<Duration> {
        let busy = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        );
        if !busy || self.attempt >= MAX_RETRIES {
            return None;
        }
        let backoff = FIRST_BACKOFF * 2u32.pow(self.attempt);
        let asked = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let wait = asked.unwrap_or(backoff).min(MAX_WAIT);
        if self.waited + wait > self.budget {
            crate::trace::log(
                6,
                format!("the API server asked to wait {wait:?} more; the answer {status} stands"),
            );
            return None;
        }
        self.attempt += 1;
        self.waited += wait;
        crate::trace::log(6, format!("{status}: retrying in {wait:?}"));
        Some(wait)
    }
}

impl<Res> Policy<Request<Body>, Response<Res>, BoxError> for Bounded {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _request: &mut Request<Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        let response = result.as_ref().ok()?;
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        self.next_wait(response.status(), retry_after)
            .map(tokio::time::sleep)
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        let body = request.body().try_clone()?;
        let mut builder = Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone())
            .version(request.version());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(request.headers().clone());
        }
        builder.body(body).ok().map(|mut clone| {
            *clone.extensions_mut() = request.extensions().clone();
            clone
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_capped_and_share_a_budget() {
        let mut policy = Bounded::new(None);
        // A server asking for a day gets at most MAX_WAIT, and the budget runs out.
        let mut total = Duration::ZERO;
        while let Some(wait) = policy.next_wait(StatusCode::TOO_MANY_REQUESTS, Some("100000")) {
            assert!(wait <= MAX_WAIT);
            total += wait;
        }
        assert!(total <= BUDGET, "{total:?}");
        assert!(total >= MAX_WAIT, "it did wait: {total:?}");
        // Not busy: no retry. Without Retry-After: a short backoff.
        let mut policy = Bounded::new(None);
        assert_eq!(policy.next_wait(StatusCode::CONFLICT, None), None);
        assert_eq!(
            policy.next_wait(StatusCode::SERVICE_UNAVAILABLE, None),
            Some(FIRST_BACKOFF)
        );
        // --request-timeout 1s: the waits fit in it.
        let mut policy = Bounded::new(Some(Duration::from_secs(1)));
        assert_eq!(
            policy.next_wait(StatusCode::TOO_MANY_REQUESTS, Some("2")),
            None
        );
        assert_eq!(
            policy.next_wait(StatusCode::TOO_MANY_REQUESTS, Some("1")),
            Some(Duration::from_secs(1))
        );
        // At most MAX_RETRIES.
        let mut policy = Bounded::new(None);
        let retries =
            std::iter::from_fn(|| policy.next_wait(StatusCode::GATEWAY_TIMEOUT, Some("0"))).count();
        assert_eq!(retries, MAX_RETRIES as usize);
    }
}
