//! Fault injection: make an endpoint fail, slow down or drop its connection, on demand.
//!
//! Faults are matched by service, method and path before the real handler runs, so the
//! plugin's behaviour under every remote failure can be tested without changing handlers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Service, World};

/// A change made to the sandbox's state "by someone else", e.g. a concurrent writer.
pub type Meddle = Arc<dyn Fn(&World) + Send + Sync>;

/// What an injected fault does.
///
/// The actions model what real servers and networks do: a server that answers an error, one that
/// is slow, a connection that breaks before the answer (`Drop`: nothing happened), a connection
/// that breaks after the server acted (`RunThenDrop`: the write landed but the reply was lost), a
/// server that acted and then answered an error (`RunThenRespond`), a write committed although the client gave up waiting (`CommitAfterHangup`), a concurrent writer
/// (`Meanwhile`) and a redirect (`Redirect`).
#[derive(Clone)]
pub enum FaultAction {
    /// Answer with this status, `Content-Type` and body instead of calling the handler.
    Respond {
        /// HTTP status code.
        status: u16,
        /// Response `Content-Type`.
        content_type: String,
        /// Response body, sent verbatim.
        body: String,
    },
    /// Answer with this status, a JSON body and `Retry-After: <seconds>` (a busy server: 429,
    /// 503) instead of calling the handler.
    RetryAfter {
        /// HTTP status code.
        status: u16,
        /// The `Retry-After` value, in seconds.
        seconds: u64,
        /// Response body (JSON), sent verbatim.
        body: String,
    },
    /// Wait this long, then run the real handler. If the client hangs up meanwhile, the handler
    /// never runs (the request is cancelled with its connection).
    Delay(Duration),
    /// Send the response head, then abort the connection before any body byte: the client sees
    /// a connection closed mid-response. The handler does not run: nothing was changed.
    Drop,
    /// Run the real handler (a write is stored), then send its status and abort the connection
    /// before any body byte: the write landed but the client never learns it.
    RunThenDrop,
    /// Run the real handler (a write is stored), then answer this status, `Content-Type` and
    /// body instead of its answer: a server that committed the write but reports a failure,
    /// e.g. a Kubernetes API server whose storage timed out after the commit (500, or 504
    /// `Timeout`). The journal records the status sent.
    RunThenRespond {
        /// HTTP status code.
        status: u16,
        /// Response `Content-Type`.
        content_type: String,
        /// Response body, sent verbatim.
        body: String,
    },
    /// Never answer; once the client has given up (closed the stream or connection), wait this
    /// long and then run the real handler anyway, as a server that commits a write after the
    /// client's timeout does. The journal entry gets the handler's status when it ran. The
    /// client must have a timeout, or it waits forever.
    CommitAfterHangup(Duration),
    /// Run the real handler at once (to completion even if the client hangs up), then hold the
    /// response this long: a server that acted while the client was still waiting, e.g. a UAA
    /// that rotated a refresh token before the client was interrupted.
    RunThenDelay(Duration),
    /// Run this change first (e.g. a concurrent writer bumping the object), then the real
    /// handler, which then sees the changed state.
    Meanwhile(Meddle),
    /// Answer with this 3xx status and `Location` instead of calling the handler.
    Redirect {
        /// HTTP status code, e.g. 302 or 307.
        status: u16,
        /// The `Location` header.
        location: String,
    },
}

impl std::fmt::Debug for FaultAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultAction::Respond { status, .. } => write!(f, "Respond({status})"),
            FaultAction::RetryAfter {
                status, seconds, ..
            } => write!(f, "RetryAfter({status}, {seconds}s)"),
            FaultAction::Delay(d) => write!(f, "Delay({d:?})"),
            FaultAction::Drop => write!(f, "Drop"),
            FaultAction::RunThenDrop => write!(f, "RunThenDrop"),
            FaultAction::RunThenRespond { status, .. } => write!(f, "RunThenRespond({status})"),
            FaultAction::CommitAfterHangup(d) => write!(f, "CommitAfterHangup({d:?})"),
            FaultAction::RunThenDelay(d) => write!(f, "RunThenDelay({d:?})"),
            FaultAction::Meanwhile(_) => write!(f, "Meanwhile(..)"),
            FaultAction::Redirect { status, location } => {
                write!(f, "Redirect({status} {location})")
            }
        }
    }
}

/// One fault rule.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The server it applies to.
    pub service: Service,
    /// The method, or any when `None`.
    pub method: Option<String>,
    /// The path: exact, or a prefix when it ends in `*`.
    pub path: String,
    /// What happens.
    pub action: FaultAction,
    /// How many matching requests it applies to; `None` = every one.
    pub times: Option<usize>,
    /// How many matching requests pass untouched before it applies.
    pub after: usize,
    /// Only requests for this host name (without port, e.g. `us.icr.io`); any when `None`.
    pub host: Option<String>,
}

impl Fault {
    /// A fault answering `status` with a JSON body, for every matching request.
    pub fn json(
        service: Service,
        method: &str,
        path: &str,
        status: u16,
        body: serde_json::Value,
    ) -> Self {
        Fault {
            service,
            method: Some(method.to_string()),
            path: path.to_string(),
            action: FaultAction::Respond {
                status,
                content_type: "application/json".into(),
                body: body.to_string(),
            },
            times: None,
            after: 0,
            host: None,
        }
    }

    /// A fault with an arbitrary action, for every matching request.
    pub fn new(service: Service, method: &str, path: &str, action: FaultAction) -> Self {
        Fault {
            service,
            method: Some(method.to_string()),
            path: path.to_string(),
            action,
            times: None,
            after: 0,
            host: None,
        }
    }

    /// Fails the next GET of `path` (e.g. `/api/v1/namespaces/team-a/secrets/regcred`) with 500
    /// (a Kubernetes `Status` for [`Service::Kube`]), as a server whose storage times out does;
    /// `.times(n)` fails the next `n`, `.after(n)` lets `n` through first. (500, not 503: clients
    /// such as kube-rs retry 503 by themselves.)
    pub fn fail_next_get(service: Service, path: &str) -> Self {
        let body = if service == Service::Kube {
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"etcdserver: request timed out","reason":"InternalError","code":500})
        } else {
            serde_json::json!({"error":"internal error"})
        };
        Fault::json(service, "GET", path, 500, body).times(1)
    }

    /// Lets the first `n` matching requests through untouched; the fault applies from then on.
    pub fn after(mut self, n: usize) -> Self {
        self.after = n;
        self
    }

    /// Limits the fault to requests for one host name (the icr.io front serves many).
    pub fn on_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_ascii_lowercase());
        self
    }

    /// Limits the fault to the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, service: Service, method: &str, path: &str, host: &str) -> bool {
        if self.service != service {
            return false;
        }
        if self.host.as_deref().is_some_and(|h| h != host) {
            return false;
        }
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return false;
        }
        match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        }
    }
}

/// The active fault rules.
#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Fault>>,
}

impl Faults {
    /// Adds a rule. Earlier rules win when several match.
    pub fn inject(&self, fault: Fault) {
        self.rules.lock().expect("faults lock").push(fault);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().expect("faults lock").clear();
    }

    /// Takes the action for a request, consuming one use of a counted rule.
    pub(crate) fn take(
        &self,
        service: Service,
        method: &str,
        path: &str,
        host: &str,
    ) -> Option<FaultAction> {
        let mut rules = self.rules.lock().expect("faults lock");
        let mut found = None;
        for (i, rule) in rules.iter_mut().enumerate() {
            if !rule.matches(service, method, path, host) {
                continue;
            }
            if rule.after > 0 {
                rule.after -= 1;
                continue;
            }
            found = Some(i);
            break;
        }
        let index = found?;
        let action = rules[index].action.clone();
        if let Some(n) = rules[index].times.as_mut() {
            *n -= 1;
            if *n == 0 {
                rules.remove(index);
            }
        }
        Some(action)
    }
}
