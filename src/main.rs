//! `kubectl-dedicated_registry`: the kubectl plugin's executable.

fn main() -> std::process::ExitCode {
    // Exactly one rustls crypto provider (ring) for kube and reqwest; must precede any client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A panic is a bug; its message must still never carry a secret.
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "error: internal error ({}); please report it",
            kubectl_dedicated_registry::output::printable(
                &kubectl_dedicated_registry::redact::one_line(&info.to_string())
            )
        );
    }));
    kubectl_dedicated_registry::run(std::env::args_os())
}
