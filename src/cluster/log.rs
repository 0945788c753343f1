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
        let observer = OBSERVER.get();
        let log = crate::trace::enabled(6).then(|| {
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
            log
        });
        if log.is_none() && observer.is_none() {
            return Box::pin(self.inner.call(request));
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            let outcome = response.await;
            match &outcome {
                Ok(response) => {
                    if let Some(log) = &log {
                        log.answered(response.status(), response.headers());
                    }
                    if let Some(observe) = observer {
                        observe(response.status().as_u16());
                    }
                }
                Err(e) => {
                    if let Some(log) = &log {
                        log.failed(e);
                    }
                    if let Some(observe) = observer {
                        observe(0);
                    }
                }
            }
            outcome
        })
    }
}

/// What is told the status of every answer of the API server (0: none came), for the
/// controller's metrics; set once per process.
static OBSERVER: std::sync::OnceLock<Box<dyn Fn(u16) + Send + Sync>> = std::sync::OnceLock::new();

/// Has `observe` told the status of every answer of the API server from now on (0 when none
/// came). Only the first call of a process counts.
pub fn observe_answers(observe: impl Fn(u16) + Send + Sync + 'static) {
    let _ = OBSERVER.set(Box::new(observe));
}
