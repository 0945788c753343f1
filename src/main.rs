//! `kubectl-dedicated_registry`: the kubectl plugin's executable.

fn main() -> std::process::ExitCode {
    // Exactly one rustls crypto provider (ring) for kube and reqwest; must precede any client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    kubectl_dedicated_registry::run(std::env::args_os())
}
