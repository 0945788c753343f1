//! Fault injection: make an endpoint fail, slow down or drop its connection, on demand.
//!
//! Faults are matched by service, method and path before the real handler runs, so the
//! plugin's behaviour under every remote failure can be tested without changing handlers.

use std::sync::Mutex;
use std::time::Duration;

use crate::Service;

/// What an injected fault does.
#[derive(Clone, Debug)]
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
    /// Wait this long, then run the real handler.
    Delay(Duration),
    /// Send the response head, then abort the connection before any body byte: the client sees
    /// a connection closed mid-response.
    Drop,
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
        }
    }

    /// Limits the fault to the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, service: Service, method: &str, path: &str) -> bool {
        if self.service != service {
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
    pub(crate) fn take(&self, service: Service, method: &str, path: &str) -> Option<FaultAction> {
        let mut rules = self.rules.lock().expect("faults lock");
        let index = rules
            .iter()
            .position(|f| f.matches(service, method, path))?;
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
