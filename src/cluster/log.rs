//! `-v 6` for the Kubernetes client, through the same [`RequestLog`] as the environment's
//! endpoints: one line per request (method, URL, status, time); at `-v 8` also the request and
//! response headers, credentials masked. Bodies are not shown (they stream through the client;
//! a Secret's would hold the credential).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::http::RequestLog;

/// The layer added to kube's client stack (outermost: it sees every request the plugin makes).
#[derive(Debug, Clone)]
pub struct LogLayer {
    /// The API server URL, without a trailing slash: the requests seen here carry the path.
    pub server: String,
}

impl<S> tower::Layer<S> for LogLayer {
    type Service = LogService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LogService {
            inner,
            server: self.server.clone(),
        }
    }
}

/// The service of [`LogLayer`].
#[derive(Debug, Clone)]
pub struct LogService<S> {
    inner: S,
    server: String,
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>> for LogService<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        if !crate::trace::enabled(6) {
            return Box::pin(self.inner.call(request));
        }
        let url = match request.uri().host() {
            Some(_) => request.uri().to_string(),
            None => format!(
                "{}{}",
                self.server,
                request.uri().path_and_query().map_or("/", |p| p.as_str())
            ),
        };
        let log = RequestLog::start(request.method().as_str(), &url);
        log.request(request.headers(), None);
        let response = self.inner.call(request);
        Box::pin(async move {
            let outcome = response.await;
            match &outcome {
                Ok(response) => log.answered(response.status(), response.headers()),
                Err(e) => log.failed(e),
            }
            outcome
        })
    }
}
