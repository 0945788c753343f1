//! `-v 6` for the Kubernetes client, as for the environment's endpoints and as kubectl prints
//! it: one line per request (method, URL, status, time); at `-v 8` also the request and
//! response headers, credentials masked ([`crate::http::masked_header`]). Bodies are not shown
//! (they stream through the client; a Secret's would hold the credential).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

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
        let method = request.method().to_string();
        let url = match request.uri().host() {
            Some(_) => request.uri().to_string(),
            None => format!(
                "{}{}",
                self.server,
                request.uri().path_and_query().map_or("/", |p| p.as_str())
            ),
        };
        if crate::trace::enabled(8) {
            crate::http::log_headers("Request Headers", request.headers());
        }
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let outcome = response.await;
            let millis = started.elapsed().as_millis();
            match &outcome {
                Ok(response) => {
                    crate::trace::log(
                        6,
                        format!(
                            "{method} {url} {} in {millis} milliseconds",
                            response.status()
                        ),
                    );
                    if crate::trace::enabled(8) {
                        crate::http::log_headers("Response Headers", response.headers());
                    }
                }
                Err(e) => crate::trace::log(
                    6,
                    format!("{method} {url} failed in {millis} milliseconds: {e}"),
                ),
            }
            outcome
        })
    }
}
