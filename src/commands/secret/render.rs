//! `secret render`: mints a token and prints the manifest; no cluster is contacted.

use secrecy::ExposeSecret as _;

use crate::cli::settings::RenderSettings;
use crate::commands::Ctx;
use crate::commands::pod::render_namespace;
use crate::engine::lifecycle::TokenLifecycle;
use crate::manifests::{self, PullSecretSpec};
use crate::output;
use crate::registry::Access;

/// `secret render`.
pub async fn render(ctx: &Ctx, settings: RenderSettings) -> anyhow::Result<()> {
    let mut session = ctx.session()?;
    // The namespace comes from -n, else the kubeconfig context if there is one, else `default`.
    let (namespace, cluster_name) = render_namespace(ctx).await;
    manifests::validate_namespace(&namespace)?;
    let spec = &settings.spec;
    let description =
        crate::engine::holders::description(spec, cluster_name.as_deref(), &namespace);
    let registry = session.profile().registry.clone();
    let mut lifecycle = TokenLifecycle::new(&mut session);
    let (token, _window) = lifecycle.mint_in_window(spec.access, &description).await?;
    let secret = manifests::pull_secret(
        &spec.name,
        &namespace,
        &PullSecretSpec {
            registry: &registry,
            username: token.username,
            token: token.token.expose_secret(),
            token_id: &token.id,
            email: spec.email(),
            readwrite: spec.access == Access::ReadWrite,
        },
    );
    let text = output::render(&secret, settings.format)?;
    if let Err(e) = output::data(&text) {
        // Nobody received the token: do not leave it behind. This is a failure even for a
        // closed pipe (which `run` otherwise treats as success), so the cause is flattened.
        let failure = anyhow::anyhow!("cannot write the manifest to standard output ({e})");
        return Err(lifecycle.undo(&token, failure).await);
    }
    output::info(format!(
        "Minted registry token {} (it is in the printed manifest; keep it safe)",
        token.id
    ));
    Ok(())
}
