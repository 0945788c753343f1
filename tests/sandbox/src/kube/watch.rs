//! `?watch=true`: a stream of newline-separated `{"type": ..., "object": ...}` events.
//!
//! Without `resourceVersion` (or with `0`), or with `sendInitialEvents=true`, the stream starts
//! with an `ADDED` event per existing object (the latter then sends the `initial-events-end`
//! BOOKMARK). The emulator keeps no history: a watch from an older `resourceVersion` only sees
//! changes made after it started. The stream ends after `timeoutSeconds` (default 30 minutes).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::objects::{Kind, Selector};
use super::{Ctx, selected};

/// A change to a stored object.
#[derive(Clone, Debug)]
pub struct Event {
    /// Group-qualified plural resource name (`secrets`, `leases.coordination.k8s.io`).
    pub resource: String,
    /// Namespace, `""` for cluster-scoped objects.
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object after the change (before deletion for `DELETED`, with the new version).
    pub object: Value,
}

struct Lines(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Lines {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|o| o.map(Ok))
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

/// Starts a watch of `kind` in `ns` (`None`: everywhere) and returns the streaming response.
pub(super) fn start(
    ctx: &Ctx,
    kind: Kind,
    ns: Option<&str>,
    labels: Selector,
    fields: Selector,
) -> Response {
    let rv = ctx.param("resourceVersion").unwrap_or("");
    let send_initial = ctx.param("sendInitialEvents") == Some("true");
    let timeout = ctx
        .param("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1800u64);
    let ns = ns.map(String::from);
    let (initial, revision, mut events) = {
        let store = ctx.world.kube.lock();
        let initial: Vec<Value> = if rv.is_empty() || rv == "0" || send_initial {
            store
                .objects
                .iter()
                .filter(|((r, n, _), _)| {
                    *r == kind.qualified() && ns.as_ref().is_none_or(|ns| n == ns)
                })
                .map(|(_, v)| v.clone())
                .filter(|o| selected(o, &labels, &fields))
                .collect()
        } else {
            Vec::new()
        };
        (initial, store.revision, store.events.subscribe())
    };
    // kubectl get -w asks for Tables: every event then carries a one-row Table.
    let table = super::discovery::wants_table(&ctx.accept)
        .then(|| ctx.param("includeObject").unwrap_or("Metadata").to_string());
    let render = move |o: &Value, first: bool| -> Value {
        match &table {
            None => o.clone(),
            Some(include) => {
                let rv = o
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let mut t = super::discovery::table(
                    kind,
                    std::slice::from_ref(o),
                    rv,
                    include,
                    crate::now(),
                );
                if !first {
                    t["columnDefinitions"] = json!([]);
                }
                t
            }
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let resource = kind.qualified();
    let kind_name = kind.kind.to_string();
    let api_version = kind.api_version();
    tokio::spawn(async move {
        let mut first = true;
        for o in &initial {
            if tx.send(line("ADDED", &render(o, first))).await.is_err() {
                return;
            }
            first = false;
        }
        if send_initial {
            let bookmark = json!({"kind": kind_name, "apiVersion": api_version, "metadata": {
                "resourceVersion": revision.to_string(),
                "annotations": {"k8s.io/initial-events-end": "true"}}});
            if tx.send(line("BOOKMARK", &bookmark)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                event = events.recv() => match event {
                    Ok(e) => {
                        if e.resource != resource
                            || ns.as_ref().is_some_and(|ns| &e.namespace != ns)
                            || !selected(&e.object, &labels, &fields)
                        {
                            continue;
                        }
                        if tx.send(line(e.kind, &render(&e.object, first))).await.is_err() {
                            return;
                        }
                        first = false;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(Lines(rx)))
        .expect("valid response")
}
