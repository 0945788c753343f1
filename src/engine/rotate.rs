//! Rotation (`secret rotate`): replaces the token(s) behind managed pull secrets, with no moment where a
//! secret holds a revoked token.
//!
//! 1. **Fetch**: the selected namespaces ([`super::select::select`]), the secrets of that name
//!    (one cluster-wide LIST, per-namespace reads when RBAC forbids it), and every managed
//!    secret of the cluster by token id ([`objects::managed_token_ids`]).
//! 2. **Group** ([`group`], pure): the selected secrets by the token they hold. A token is
//!    replaced in *every* managed secret of the cluster holding it, selected or not, or it could
//!    not be revoked. Unmanaged secrets and those of another registry are skipped with a warning.
//! 3. **Per group, all or nothing**: mint (inside a Ctrl-C window) and verify the new token —
//!    one for the cluster's shared token (description `<cluster>/*/<name>`, secrets keep their
//!    scope annotation), one per secret for a namespace's own token —, write every secret
//!    (`--concurrency` at a time, `resourceVersion` preconditions), and only when every write
//!    succeeded revoke the old token. If any write fails, the written secrets get their old
//!    content back and the new token is revoked. Groups are independent.
//! 4. One line per rotated secret on stdout, one summary line, exit 1 naming what failed.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use futures::{StreamExt as _, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use secrecy::ExposeSecret as _;

use super::converge::{Goal, Step, converge};
use super::holders::{abbreviate, recorded_id, token_id};
use super::lifecycle::{TokenLifecycle, Verification};
use super::report::{Reporter, Shown};
use super::select::{fetch_named, select};
use super::spec::RotateSpec;
use crate::cancel::{Cancel, Window};
use crate::cluster::objects::{self, WriteFailure};
use crate::cluster::{Target, access};
use crate::manifests::{self, PullSecretSpec};
use crate::providers::{Kind, Provider};
use crate::registry::{self, Access, MintedToken};

/// One secret of a rotation group, as read before the rotation.
#[derive(Debug, Clone)]
pub struct Member {
    pub namespace: String,
    pub name: String,
    pub secret: Secret,
}

impl Member {
    fn at(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The secrets holding one token: rotated together, all or nothing.
#[derive(Debug)]
pub struct Group {
    /// The token id they hold.
    pub id: String,
    /// Whether it is the cluster's shared token (one new shared token for all).
    pub shared: bool,
    /// The old token's access.
    pub old_access: Access,
    /// The new token's access.
    pub access: Access,
    /// The selected secrets holding it.
    pub members: Vec<Member>,
    /// Other managed secrets of the cluster holding it (`namespace/name`), rotated too.
    pub outside: Vec<String>,
    /// Whether every managed holder in the cluster is known (the cluster-wide list worked).
    pub complete: bool,
}

/// Why a selected secret is not rotated, if it is not.
fn skip_reason(secret: &Secret, registry: &str, kind: Kind) -> Option<String> {
    if !manifests::is_managed(secret) {
        return Some("is not managed by kubectl-dedicated-registry".into());
    }
    let recorded = manifests::annotation(secret, manifests::ANNOTATION_REGISTRY);
    if let Some(other) = recorded.filter(|r| *r != registry) {
        return Some(format!(
            "holds a token of registry {}, not of this profile's {registry}",
            crate::text::printable(other)
        ));
    }
    if manifests::existing_credential(secret, registry).is_none() {
        return Some(format!("holds no credential for {registry}"));
    }
    if token_id(secret, kind).is_none() {
        return Some("records no token id, so its token cannot be revoked".into());
    }
    None
}

/// The access a secret's annotation records.
fn recorded_access(secret: &Secret) -> Access {
    Access::from_readwrite(
        manifests::annotation(secret, manifests::ANNOTATION_ACCESS)
            == Some(Access::ReadWrite.as_str()),
    )
}

/// Groups the selected secrets by token id (pure). `holders` is every managed secret of the
/// cluster (`namespace/name` → token id), `None` when it could not be listed. Returns the
/// groups and a warning per skipped secret.
pub fn group(
    selected: Vec<Member>,
    (registry, kind): (&str, Kind),
    holders: Option<&[(String, Option<String>)]>,
    access: Option<Access>,
) -> (Vec<Group>, Vec<String>) {
    let mut skipped = Vec::new();
    let mut by_id: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for member in selected {
        if let Some(reason) = skip_reason(&member.secret, registry, kind) {
            skipped.push(format!(
                "secret {} {reason}; skipped",
                crate::text::printable(&member.at())
            ));
            continue;
        }
        let id = token_id(&member.secret, kind)
            .unwrap_or_default()
            .to_string();
        by_id.entry(id).or_default().push(member);
    }
    let groups = by_id
        .into_iter()
        .map(|(id, members)| {
            let inside: BTreeSet<String> = members.iter().map(Member::at).collect();
            let outside = holders
                .unwrap_or_default()
                .iter()
                .filter(|(at, held)| held.as_deref() == Some(id.as_str()) && !inside.contains(at))
                .map(|(at, _)| at.clone())
                .collect();
            let old_access = recorded_access(&members[0].secret);
            Group {
                shared: members.iter().any(|m| manifests::is_shared(&m.secret)),
                old_access,
                access: access.unwrap_or(old_access),
                id,
                members,
                outside,
                complete: holders.is_some(),
            }
        })
        .collect();
    (groups, skipped)
}

/// The rotation groups of `settings` on `target`'s cluster for `registry`: the selected
/// secrets (an error when there is none), grouped by the credential they hold; a warning for
/// each secret skipped. Nothing is minted or written.
pub async fn plan(
    target: &Target,
    settings: &RotateSpec,
    (registry, kind): (&str, Kind),
) -> anyhow::Result<Vec<Group>> {
    let name = &settings.name;
    let names = match &settings.fleet {
        Some(fleet) => select(target, fleet).await?,
        None => vec![target.namespace.clone()],
    };
    let selected = selected(target, settings, &names).await?;
    let holders = match objects::managed_token_ids(&target.client, name).await {
        Ok(holders) => Some(holders),
        Err(e) => {
            crate::trace::warning(format!(
                "cannot list the managed secrets of the whole cluster ({}); a shared token held outside the selection cannot be found, so such a token is replaced but not revoked",
                crate::redact::one_line(&e.to_string())
            ));
            None
        }
    };
    let (groups, skipped) = group(
        selected,
        (registry, kind),
        holders.as_deref(),
        settings.access,
    );
    for warning in skipped {
        crate::trace::warning(warning);
    }
    if groups.is_empty() {
        bail!("no managed secret/{name} of registry {registry} to rotate (see the warnings above)");
    }
    Ok(groups)
}

/// The selected secrets of that name; an error when there is none.
async fn selected(
    target: &Target,
    settings: &RotateSpec,
    names: &[String],
) -> anyhow::Result<Vec<Member>> {
    let name = &settings.name;
    let found = match &settings.fleet {
        Some(_) => fetch_named(target, name, names, settings.concurrency).await?,
        // One namespace: one GET, and its failure is the answer.
        None => {
            let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
            let found = secrets
                .get_opt(name)
                .await
                .map_err(|e| target.error("get", "secret", name, e))?;
            found
                .map(|s| (target.namespace.clone(), s))
                .into_iter()
                .collect()
        }
    };
    let selected: Vec<Member> = names
        .iter()
        .filter_map(|ns| found.get(ns))
        .map(|secret| member(secret, name))
        .collect();
    if selected.is_empty() {
        match &settings.fleet {
            None => bail!(
                "secret/{name} not found in namespace {}; create it with `kubectl dedicated-registry -n {} secret create {name}`",
                target.namespace,
                target.namespace
            ),
            Some(_) => bail!(
                "secret/{name} was found in none of the {} selected namespace(s); nothing to rotate",
                names.len()
            ),
        }
    }
    Ok(selected)
}

fn member(secret: &Secret, name: &str) -> Member {
    if let Some((_, password, _)) =
        manifests::existing_credential(secret, secret_registry(secret).unwrap_or_default())
    {
        // The old token may be echoed back in an error: scrub it too.
        crate::redact::register(&password);
    }
    Member {
        namespace: secret.metadata.namespace.clone().unwrap_or_default(),
        name: name.to_string(),
        secret: secret.clone(),
    }
}

fn secret_registry(secret: &Secret) -> Option<&str> {
    manifests::annotation(secret, manifests::ANNOTATION_REGISTRY)
}

/// `read-only`, or `read-only -> read-write` when it changes.
pub fn access_change(group: &Group) -> String {
    if group.old_access == group.access {
        group.access.as_str().to_string()
    } else {
        format!("{} -> {}", group.old_access.as_str(), group.access.as_str())
    }
}

/// The namespaces of a group's secrets, selected and outside, sorted and unique.
pub fn namespaces_of(group: &Group) -> Vec<String> {
    let mut all: BTreeSet<String> = group.members.iter().map(|m| m.namespace.clone()).collect();
    all.extend(
        group
            .outside
            .iter()
            .map(|at| at.split('/').next().unwrap_or_default().to_string()),
    );
    all.into_iter().collect()
}

/// How the new tokens of a group are minted: one shared, or one per secret.
pub fn new_tokens(group: &Group) -> usize {
    if group.shared {
        1
    } else {
        group.members.len() + group.outside.len()
    }
}

/// What one secret's write ended in.
enum Wrote {
    /// It holds the new token: the object as stored.
    Written(Box<Secret>),
    /// Not written; why.
    Failed(String),
    /// The answer was lost and it could not be read back; why.
    Unknown(String),
}

/// The tokens minted for one group, with their Ctrl-C windows (a token per member, or one).
struct Minted {
    tokens: Vec<(MintedToken, Window)>,
}

impl Minted {
    /// The new token of member `index`.
    fn of(&self, index: usize) -> &MintedToken {
        &self.tokens[index.min(self.tokens.len() - 1)].0
    }
}

/// How one group ended.
struct Ended {
    /// Rotated: secrets rewritten; else the failures (`namespace`, reason).
    rewritten: usize,
    failures: Vec<(String, String)>,
}

/// One rotation run.
pub struct Rotation<'r> {
    settings: &'r RotateSpec,
    target: &'r Target,
    reporter: &'r dyn Reporter,
    registry: String,
    kind: Kind,
    cancel: Cancel,
}

impl<'r> Rotation<'r> {
    /// A rotation of `settings` on `target`'s cluster with `provider`'s registry.
    pub fn new(
        settings: &'r RotateSpec,
        target: &'r Target,
        provider: &dyn Provider,
        reporter: &'r dyn Reporter,
    ) -> Self {
        Rotation {
            settings,
            target,
            reporter,
            registry: provider.registry().to_string(),
            kind: provider.kind(),
            cancel: provider.cancel().clone(),
        }
    }
}

/// One line per group on stderr: what is replaced where, and what lies outside the selection.
pub fn plan_notes(groups: &[Group]) {
    for g in groups {
        let namespaces = namespaces_of(g);
        let namespaces: Vec<&str> = namespaces.iter().map(String::as_str).collect();
        crate::trace::note(format!(
            "token/{} ({}, {}): {} secret(s) in {}; {} new token(s)",
            g.id,
            if g.shared {
                "the cluster's shared token"
            } else {
                "a namespace's own token"
            },
            access_change(g),
            g.members.len() + g.outside.len(),
            abbreviate(&namespaces),
            new_tokens(g)
        ));
        if !g.outside.is_empty() {
            let outside: Vec<&str> = g.outside.iter().map(String::as_str).collect();
            crate::trace::note(format!(
                "token/{} is also held by {} secret(s) outside the selection ({}): they are rotated too, or the old token could not be revoked",
                g.id,
                g.outside.len(),
                abbreviate(&outside)
            ));
        }
        if g.shared && !g.complete {
            crate::trace::warning(format!(
                "token/{} is the cluster's shared token and its holders outside the selection are unknown: it will be replaced here but NOT revoked",
                g.id
            ));
        }
    }
}

impl Rotation<'_> {
    /// Rotates every group; one summary line; exit 1 naming what failed.
    pub async fn run(&self, groups: Vec<Group>, provider: &mut dyn Provider) -> anyhow::Result<()> {
        let mut ended = Vec::new();
        let mut ready = Vec::new();
        for mut group in groups {
            match self.prepare(&mut group, provider).await {
                Ok(minted) => ready.push((group, minted)),
                Err(reason) => ended.push((
                    group.id.clone(),
                    Ended {
                        rewritten: 0,
                        failures: vec![(group_namespaces(&group), reason)],
                    },
                )),
            }
        }
        let wrote = self.write_all(&ready).await;
        for ((group, minted), wrote) in ready.into_iter().zip(wrote) {
            let id = group.id.clone();
            ended.push((id, self.settle(group, minted, wrote, provider).await));
        }
        self.summary(ended)
    }

    /// Reads the holders outside the selection, then mints and verifies the new token(s).
    /// On failure nothing was changed (any token minted is revoked) and the reason is returned.
    async fn prepare(
        &self,
        group: &mut Group,
        provider: &mut dyn Provider,
    ) -> Result<Minted, String> {
        for at in std::mem::take(&mut group.outside) {
            let member = self.read_outside(&at, &group.id).await?;
            group.members.push(member);
        }
        self.writes_allowed(group).await?;
        let name = &self.settings.name;
        let cluster = self.target.cluster.as_deref();
        let descriptions: Vec<String> = if group.shared {
            vec![registry::default_description(cluster, "*", name)]
        } else {
            group
                .members
                .iter()
                .map(|m| registry::default_description(cluster, &m.namespace, &m.name))
                .collect()
        };
        let mut lifecycle = TokenLifecycle::new(provider);
        let mut tokens: Vec<(MintedToken, Window)> = Vec::new();
        for description in descriptions {
            let step = match lifecycle.mint_in_window(group.access, &description).await {
                Ok((token, window)) => {
                    let checked = lifecycle.verify(&token, Verification::Auto, name).await;
                    tokens.push((token, window));
                    checked.map_err(anyhow::Error::from)
                }
                Err(e) => Err(e),
            };
            if let Err(e) = step {
                let mut reason = format!("{e:#}");
                for (token, _window) in tokens {
                    let undone = lifecycle
                        .undo(&token, anyhow::anyhow!("no secret was written"))
                        .await;
                    reason.push_str(&format!("; {undone:#}"));
                }
                return Err(crate::redact::one_line(&reason));
            }
        }
        for (token, _) in &tokens {
            crate::trace::log(
                1,
                format!("token/{} minted to replace {}", token.id, group.id),
            );
        }
        Ok(Minted { tokens })
    }

    /// Before minting: RBAC must allow updating the group's secrets (SelfSubjectAccessReview,
    /// as `kubectl auth can-i`): one cluster-wide review, else one per namespace. A review the
    /// cluster cannot answer lets the writes decide.
    async fn writes_allowed(&self, group: &Group) -> Result<(), String> {
        let client = &self.target.client;
        let name = Some(self.settings.name.as_str());
        if access::allowed(client, "", "update", "secrets", name)
            .await
            .unwrap_or(true)
        {
            return Ok(());
        }
        let mut denied = Vec::new();
        for namespace in namespaces_of(group) {
            if !access::allowed(client, &namespace, "update", "secrets", name)
                .await
                .unwrap_or(true)
            {
                denied.push(namespace);
            }
        }
        if denied.is_empty() {
            return Ok(());
        }
        Err(format!(
            "Kubernetes denies update of secrets in namespace(s) {} to user `{}` (checked before minting; nothing was changed)",
            denied.join(", "),
            self.target.user.as_deref().unwrap_or("(none)")
        ))
    }

    /// Reads a managed secret outside the selection that holds the group's token.
    async fn read_outside(&self, at: &str, id: &str) -> Result<Member, String> {
        let (namespace, name) = at.split_once('/').unwrap_or((at, ""));
        let target = self.target.in_namespace(namespace);
        let secrets: Api<Secret> = Api::namespaced(target.client.clone(), namespace);
        let secret = match secrets.get_opt(name).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                return Err(format!(
                    "secret {at} (holding token {id}) disappeared while reading it"
                ));
            }
            Err(e) => return Err(target.error("get", "secret", name, e).to_string()),
        };
        if recorded_id(&secret) != Some(id) {
            return Err(format!("secret {at} changed while reading it; re-run"));
        }
        if let Some(reason) = skip_reason(&secret, &self.registry, self.kind) {
            return Err(format!(
                "secret {at} holds token {id} but {reason}, so the token cannot be replaced everywhere"
            ));
        }
        let mut member = member(&secret, name);
        member.namespace = namespace.to_string();
        Ok(member)
    }
}

/// The namespaces of a group, for a failure line.
fn group_namespaces(group: &Group) -> String {
    namespaces_of(group).join(", ")
}

impl Rotation<'_> {
    /// The secret `member` becomes: the new token, its e-mail kept, the new access, the scope
    /// annotation kept for the cluster's shared token.
    fn desired(&self, group: &Group, member: &Member, token: &MintedToken) -> Secret {
        let email = manifests::existing_credential(&member.secret, &self.registry)
            .map(|(_, _, email)| email)
            .unwrap_or_default();
        let mut secret = manifests::pull_secret(
            &member.name,
            &member.namespace,
            &PullSecretSpec {
                registry: &self.registry,
                username: token.username,
                token: token.token.expose_secret(),
                token_id: &token.id,
                email: &email,
                readwrite: group.access == Access::ReadWrite,
            },
        );
        if group.shared {
            manifests::mark_shared(&mut secret);
        }
        secret
    }

    /// Writes every member of every ready group, `--concurrency` at a time; the results per
    /// group, in member order.
    async fn write_all(&self, ready: &[(Group, Minted)]) -> Vec<Vec<Wrote>> {
        let jobs: Vec<(usize, usize, Secret)> = ready
            .iter()
            .enumerate()
            .flat_map(|(g, (group, minted))| {
                group
                    .members
                    .iter()
                    .enumerate()
                    .map(move |(m, member)| (g, m, self.desired(group, member, minted.of(m))))
            })
            .collect();
        let progress = self.reporter.progress(jobs.len(), "secrets");
        let mut done: Vec<(usize, usize, Wrote)> = stream::iter(jobs)
            .map(|(g, m, desired)| {
                let progress = &progress;
                let member = &ready[g].0.members[m];
                let old = &ready[g].0.id;
                async move {
                    let wrote = self.write(member, old, desired).await;
                    progress.done(!matches!(wrote, Wrote::Written(_)));
                    (g, m, wrote)
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;
        drop(progress);
        done.sort_by_key(|(g, m, _)| (*g, *m));
        let mut per_group: Vec<Vec<Wrote>> = ready.iter().map(|_| Vec::new()).collect();
        for (g, _, wrote) in done {
            per_group[g].push(wrote);
        }
        per_group
    }

    /// Writes one secret through the one loop: a concurrent writer makes it re-read (and go on
    /// only while the secret still holds the old credential); a lost answer reads it back.
    async fn write(&self, member: &Member, old: &str, desired: Secret) -> Wrote {
        let target = self.target.in_namespace(&member.namespace);
        let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &member.namespace);
        let mut goal = Replace {
            rotation: self,
            target,
            member,
            old,
            desired,
        };
        let known = Some(Some(member.secret.clone()));
        match converge(&mut goal, &secrets, &member.name, known).await {
            Ok(wrote) | Err(wrote) => wrote,
        }
    }
}

/// The goal of one secret of a rotation: the new credential over the old one.
struct Replace<'g> {
    rotation: &'g Rotation<'g>,
    target: Target,
    member: &'g Member,
    old: &'g str,
    desired: Secret,
}

impl Goal for Replace<'_> {
    type Output = Wrote;
    type Error = Wrote;

    fn dry_run(&self) -> bool {
        false
    }

    fn stopped(&mut self) -> Option<Wrote> {
        let cancel = &self.rotation.cancel;
        cancel
            .is_cancelled()
            .then(|| Wrote::Failed(format!("{}; not written", cancel.message())))
    }

    fn read(&mut self, read: Result<Option<Secret>, kube::Error>) -> Result<Option<Secret>, Wrote> {
        let name = &self.member.name;
        read.map_err(|e| Wrote::Failed(self.target.error("get", "secret", name, e).to_string()))
    }

    async fn decide(
        &mut self,
        existing: Option<&Secret>,
        _last: bool,
    ) -> Result<Step<Wrote>, Wrote> {
        let name = &self.member.name;
        match existing {
            Some(fresh) if recorded_id(fresh) == Some(self.old) => {
                Ok(Step::Write(Box::new(self.desired.clone())))
            }
            Some(fresh) => Err(Wrote::Failed(format!(
                "secret/{name} was changed concurrently and now holds token {}; not written",
                recorded_id(fresh).unwrap_or("(none)")
            ))),
            None => Err(Wrote::Failed(format!(
                "secret/{name} was deleted concurrently"
            ))),
        }
    }

    async fn landed(
        &mut self,
        written: Secret,
        _: Option<&Secret>,
        recovered: bool,
    ) -> Result<Wrote, Wrote> {
        if recovered {
            crate::trace::warning(format!(
                "the write of secret {}/{} reported an error, but the secret holds the new token: it was written",
                self.member.namespace, self.member.name
            ));
        }
        Ok(Wrote::Written(Box::new(written)))
    }

    async fn unwritable(&mut self, why: String) -> Wrote {
        Wrote::Failed(why)
    }

    async fn failed(&mut self, failure: WriteFailure, _: Option<&Secret>, known: bool) -> Wrote {
        let error = self
            .target
            .error("update", "secret", &self.member.name, failure.error);
        if known {
            Wrote::Failed(error.to_string())
        } else {
            Wrote::Unknown(format!("{error}; it is unknown whether it was written"))
        }
    }
}

impl Rotation<'_> {
    /// After the writes of one group: all written → revoke the old token; else put the written
    /// secrets back and revoke the new token(s) no secret holds.
    async fn settle(
        &self,
        group: Group,
        minted: Minted,
        wrote: Vec<Wrote>,
        provider: &mut dyn Provider,
    ) -> Ended {
        let failures: Vec<(String, String)> = group
            .members
            .iter()
            .zip(&wrote)
            .filter_map(|(m, w)| match w {
                Wrote::Written(_) => None,
                Wrote::Failed(r) | Wrote::Unknown(r) => {
                    Some((m.namespace.clone(), crate::redact::one_line(r)))
                }
            })
            .collect();
        if failures.is_empty() {
            for member in &group.members {
                let kind_name = format!("secret/{}", member.name);
                let verb = format!("rotated (namespace {})", member.namespace);
                if let Err(e) = self.reporter.object(Shown::Line, &kind_name, &verb, None) {
                    crate::trace::log(1, format!("cannot write to stdout: {e}"));
                }
            }
            self.revoke_old(&group, provider).await;
            drop(minted);
            return Ended {
                rewritten: group.members.len(),
                failures,
            };
        }
        self.undo_group(&group, minted, wrote, provider).await;
        Ended {
            rewritten: 0,
            failures,
        }
    }

    /// Revokes the replaced token once no managed secret of the cluster holds it any more.
    async fn revoke_old(&self, group: &Group, provider: &mut dyn Provider) {
        let id = &group.id;
        let rotated: BTreeSet<String> = group.members.iter().map(Member::at).collect();
        let still = match objects::managed_token_ids(&self.target.client, &self.settings.name).await
        {
            Ok(holders) => holders
                .into_iter()
                .filter(|(at, held)| held.as_deref() == Some(id.as_str()) && !rotated.contains(at))
                .map(|(at, _)| at)
                .collect::<Vec<_>>(),
            Err(e) if group.shared => {
                crate::trace::warning(format!(
                    "token/{id} was replaced, but the secrets of the cluster cannot be listed ({}), so it was NOT revoked; revoke it with `kubectl dedicated-registry token revoke {id}` once unused",
                    crate::redact::one_line(&e.to_string())
                ));
                return;
            }
            Err(_) => Vec::new(),
        };
        if group.shared && !group.complete {
            crate::trace::warning(format!(
                "token/{id} was replaced in the selection, but its other holders were unknown: NOT revoked; revoke it with `kubectl dedicated-registry token revoke {id}` once unused"
            ));
            return;
        }
        if !still.is_empty() {
            let still: Vec<&str> = still.iter().map(String::as_str).collect();
            crate::trace::note(format!(
                "token/{id} replaced but now held by {} other secret(s) ({}); not revoked",
                still.len(),
                abbreviate(&still)
            ));
            return;
        }
        let first = &group.members[0];
        let recorded = super::holders::recorded(
            id,
            Some(&first.secret),
            &self.registry,
            self.target.cluster.as_deref(),
            &first.namespace,
            &first.name,
        );
        super::holders::revoke_replaced(&mut TokenLifecycle::new(provider), &recorded).await;
    }
}

impl Rotation<'_> {
    /// A failed group: the written secrets get their old content back (concurrently), then each
    /// new token that no secret holds any more is revoked; a new token still held is kept and
    /// named.
    async fn undo_group(
        &self,
        group: &Group,
        minted: Minted,
        wrote: Vec<Wrote>,
        provider: &mut dyn Provider,
    ) {
        let new_of = |m: usize| minted.of(m).id.clone();
        let back: Vec<(usize, Result<(), String>)> =
            stream::iter(group.members.iter().zip(wrote).enumerate())
                .map(|(m, (member, wrote))| {
                    let new = new_of(m);
                    async move {
                        let result = match wrote {
                            Wrote::Failed(_) => Ok(()),
                            Wrote::Written(written) => {
                                self.restore(member, Some(*written), &new).await
                            }
                            Wrote::Unknown(_) => self.restore(member, None, &new).await,
                        };
                        (m, result)
                    }
                })
                .buffer_unordered(self.settings.concurrency)
                .collect()
                .await;
        let mut kept: BTreeSet<String> = BTreeSet::new();
        for (m, result) in back {
            let member = &group.members[m];
            if let Err(reason) = result {
                crate::trace::warning(format!(
                    "secret {} could NOT be put back on token {} ({}): it holds the new token {}, which is kept",
                    member.at(),
                    group.id,
                    crate::redact::one_line(&reason),
                    new_of(m)
                ));
                kept.insert(new_of(m));
            }
        }
        let mut lifecycle = TokenLifecycle::new(provider);
        for (token, window) in minted.tokens {
            if kept.contains(&token.id) {
                continue;
            }
            let e = lifecycle
                .undo_changed(
                    &token,
                    anyhow::anyhow!("the rotation of token {} failed", group.id),
                )
                .await;
            crate::trace::note(crate::redact::one_line(&format!("{e:#}")));
            drop(window);
        }
    }

    /// Puts `member`'s old content back over `written` (`None`: read it first), as long as it
    /// holds the new credential `new`, through the one loop.
    async fn restore(
        &self,
        member: &Member,
        written: Option<Secret>,
        new: &str,
    ) -> Result<(), String> {
        let target = self.target.in_namespace(&member.namespace);
        let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &member.namespace);
        let current = match written {
            Some(w) => w,
            None => match objects::read_back(&secrets, &member.name).await {
                Some(Some(s)) if recorded_id(&s) == Some(new) => s,
                Some(_) => return Ok(()),
                None => return Err("it cannot be read".into()),
            },
        };
        let mut goal = Restore {
            target,
            member,
            new,
            old: manifests::restorable(&member.secret),
        };
        converge(&mut goal, &secrets, &member.name, Some(Some(current))).await
    }

    /// `N tokens rotated, N secrets rewritten, N failed`; exit 1 naming the failures.
    fn summary(&self, ended: Vec<(String, Ended)>) -> anyhow::Result<()> {
        let rotated = ended.iter().filter(|(_, e)| e.failures.is_empty()).count();
        let rewritten: usize = ended.iter().map(|(_, e)| e.rewritten).sum();
        let failed: Vec<&(String, Ended)> = ended
            .iter()
            .filter(|(_, e)| !e.failures.is_empty())
            .collect();
        let mut namespaces: BTreeSet<&str> = BTreeSet::new();
        for (id, e) in &failed {
            for (namespace, reason) in &e.failures {
                crate::trace::note(format!(
                    "namespace {namespace} failed (token {id}): {reason}"
                ));
                namespaces.insert(namespace);
            }
        }
        crate::trace::note(format!(
            "{rotated} tokens rotated, {rewritten} secrets rewritten, {} failed",
            failed.len()
        ));
        if !failed.is_empty() {
            let ids: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
            bail!(
                "secret/{}: the rotation of token(s) {} failed in namespace(s) {}; their secrets hold the old token, which still works; fix the cause and re-run",
                self.settings.name,
                ids.join(", "),
                namespaces.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(())
    }
}

/// The goal of undoing one secret of a failed rotation group: its old content back, while it
/// holds the new credential.
struct Restore<'g> {
    target: Target,
    member: &'g Member,
    new: &'g str,
    old: Secret,
}

impl Goal for Restore<'_> {
    type Output = ();
    type Error = String;

    fn dry_run(&self) -> bool {
        false
    }

    // An undo runs to its end: a stop was already requested, most likely.
    fn stopped(&mut self) -> Option<String> {
        None
    }

    fn read(
        &mut self,
        read: Result<Option<Secret>, kube::Error>,
    ) -> Result<Option<Secret>, String> {
        read.map_err(|e| {
            self.target
                .error("get", "secret", &self.member.name, e)
                .to_string()
        })
    }

    async fn decide(&mut self, existing: Option<&Secret>, _last: bool) -> Result<Step<()>, String> {
        Ok(match existing {
            Some(current) if recorded_id(current) == Some(self.new) => {
                Step::Write(Box::new(self.old.clone()))
            }
            // Deleted, or holding another credential by now: nothing of ours to undo.
            _ => Step::Done(()),
        })
    }

    async fn landed(&mut self, _: Secret, _: Option<&Secret>, _: bool) -> Result<(), String> {
        let member = self.member;
        crate::trace::note(format!(
            "secret/{} put back on its old token {} (namespace {})",
            member.name,
            recorded_id(&member.secret).unwrap_or_default(),
            member.namespace
        ));
        Ok(())
    }

    fn checks_kubelet(&self) -> bool {
        // It puts back what was there, as it was.
        false
    }

    async fn unwritable(&mut self, why: String) -> String {
        why
    }

    async fn failed(&mut self, failure: WriteFailure, _: Option<&Secret>, _known: bool) -> String {
        self.target
            .error("update", "secret", &self.member.name, failure.error)
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;

    const REGISTRY: &str = "registry.example";
    const OLD: &str = "11111111-2222-3333-4444-555555555555";
    const OWN: &str = "aaaaaaaa-2222-3333-4444-555555555555";

    fn secret(namespace: &str, id: &str, shared: bool, managed: bool) -> Member {
        let mut s = manifests::pull_secret(
            "regcred",
            namespace,
            &PullSecretSpec {
                registry: REGISTRY,
                username: "token",
                token: "t",
                token_id: id,
                email: "",
                readwrite: false,
            },
        );
        if shared {
            manifests::mark_shared(&mut s);
        }
        if !managed {
            s.metadata.labels = Some(Map::new());
        }
        member(&s, "regcred")
    }

    #[test]
    fn secrets_are_grouped_by_token_and_a_shared_one_reaches_outside_the_selection() {
        let selected = vec![
            secret("a", OLD, true, true),
            secret("b", OLD, true, true),
            secret("c", OWN, false, true),
            secret("d", OWN, false, false),
        ];
        let holders = vec![
            ("a/regcred".to_string(), Some(OLD.to_string())),
            ("b/regcred".to_string(), Some(OLD.to_string())),
            ("z/regcred".to_string(), Some(OLD.to_string())),
            ("c/regcred".to_string(), Some(OWN.to_string())),
            ("y/other".to_string(), None),
        ];
        let (groups, skipped) = group(
            selected,
            (REGISTRY, Kind::Dedicated),
            Some(&holders),
            Some(Access::ReadWrite),
        );
        assert_eq!(skipped.len(), 1);
        assert!(
            skipped[0].contains("d/regcred is not managed"),
            "{skipped:?}"
        );
        assert_eq!(groups.len(), 2);
        let shared = groups.iter().find(|g| g.id == OLD).unwrap();
        assert!(shared.shared && shared.complete);
        assert_eq!(shared.members.len(), 2);
        assert_eq!(shared.outside, vec!["z/regcred".to_string()]);
        assert_eq!(new_tokens(shared), 1);
        assert_eq!(access_change(shared), "read-only -> read-write");
        let own = groups.iter().find(|g| g.id == OWN).unwrap();
        assert!(!own.shared && own.outside.is_empty());
        assert_eq!(new_tokens(own), 1);
    }

    #[test]
    fn another_registry_and_unknown_holders_are_said() {
        let mut other = secret("a", OLD, false, true);
        other.secret.metadata.annotations.as_mut().unwrap().insert(
            manifests::ANNOTATION_REGISTRY.into(),
            "other.example".into(),
        );
        let (groups, skipped) = group(
            vec![other, secret("b", OLD, true, true)],
            (REGISTRY, Kind::Dedicated),
            None,
            None,
        );
        assert!(skipped[0].contains("registry other.example"), "{skipped:?}");
        assert_eq!(groups.len(), 1);
        assert!(!groups[0].complete);
        assert_eq!(groups[0].access, Access::ReadOnly);
    }
}
