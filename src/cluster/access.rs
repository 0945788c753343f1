//! Asking the API server what the current user may do (SelfSubjectAccessReview), as
//! `kubectl auth can-i` does: used to refuse before minting a token for a write that RBAC would
//! deny, and by `doctor`.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// Whether the current user may `verb` the `resource` (plural, core group) in `namespace`;
/// with `name`, the object of that name (so a rule with `resourceNames`, as the shipped
/// controller's, answers yes for it). A create has no name: RBAC sees none on the request.
pub async fn allowed(
    client: &kube::Client,
    namespace: &str,
    verb: &str,
    resource: &str,
    name: Option<&str>,
) -> Result<bool, kube::Error> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.to_string()),
                verb: Some(verb.to_string()),
                resource: Some(resource.to_string()),
                name: name.filter(|_| verb != "create").map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = reviews.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}
