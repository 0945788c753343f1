//! `dedicated-sandbox up`: runs the emulated environment until interrupted.
//!
//! It starts every server of the library's [`Sandbox`], prints what a client needs (URLs, CA
//! file, kubeconfig, seeded users and orgs) as text or as one JSON line (`--json`), and stops
//! cleanly on Ctrl-C or SIGTERM. The seed passwords it prints are public test fixtures.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dedicated_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// A local emulator of an IBM Cloud Dedicated environment (Cloud Foundry, UAA, registry) and a
/// Kubernetes API server, for tests and demos.
#[derive(Parser)]
#[command(name = "dedicated-sandbox", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every server, print how to reach them, and run until Ctrl-C or SIGTERM
    Up(UpArgs),
}

#[derive(clap::Args)]
struct UpArgs {
    /// Directory for `ca.pem` and `kubeconfig` (default: a temporary directory removed on exit)
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Lifetime of UAA access tokens, in seconds
    #[arg(long, value_name = "SECS")]
    access_token_ttl: Option<u64>,
    /// Lifetime of UAA refresh tokens, in seconds
    #[arg(long, value_name = "SECS")]
    refresh_token_ttl: Option<u64>,
    /// Print the connection details as one JSON object on a single line
    #[arg(long)]
    json: bool,
    /// Behave as a real environment may differ (repeatable), e.g. `--variant no-v2`
    #[arg(long = "variant", value_enum, value_name = "NAME")]
    variants: Vec<dedicated_sandbox::Variant>,
    /// Delay every request to every service by this many milliseconds (a network round trip)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency: u64,
    /// Seed this many extra namespaces, `ns-0001`, `ns-0002`, ... (for fan-out benchmarks),
    /// and the user (and context) `sandbox-ns-writer`, whose rights on secrets come from one
    /// RoleBinding in each of them
    #[arg(long, value_name = "N", default_value_t = 0)]
    extra_namespaces: usize,
    /// Serve the icr.io front on port 443 of this loopback address (needs root), so that the
    /// icr.io names work without a port once pinned to it
    #[arg(long, value_name = "IP")]
    icr_on_port_443: Option<std::net::Ipv4Addr>,
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Up(args) => runtime.block_on(up(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let mut config = SandboxConfig::default();
    if let Some(secs) = args.access_token_ttl {
        config.access_token_ttl = Duration::from_secs(secs);
    }
    if let Some(secs) = args.refresh_token_ttl {
        config.refresh_token_ttl = Duration::from_secs(secs);
    }
    config.variants.extend(args.variants);
    config.latency = Duration::from_millis(args.latency);
    config.ibm.icr_on_port_443 = args.icr_on_port_443;
    let extra: Vec<String> = (1..=args.extra_namespaces)
        .map(|i| format!("ns-{i:04}"))
        .collect();
    if !extra.is_empty() {
        config
            .kube_users
            .push(dedicated_sandbox::KubeUser::namespace_writer(&extra));
    }
    config.namespaces.extend(extra);
    // Listen for SIGTERM before printing anything: a script may send it as soon as it has
    // read the connection details.
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let started = Instant::now();
    let sandbox = Sandbox::start_with(config, args.dir.as_deref())
        .await
        .context("failed to start the sandbox")?;
    let startup = started.elapsed();
    let summary = summary(&sandbox, startup);
    // A closed stdout (e.g. piped into `head`) must not stop the servers, so write errors are
    // ignored.
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(out, "{summary}");
    } else {
        let _ = out.write_all(render_text(&summary).as_bytes());
    }
    let _ = out.flush();
    drop(out);
    eprintln!(
        "dedicated-sandbox: up in {} ms; press Ctrl-C to stop",
        startup.as_millis()
    );
    wait_for_shutdown(terminate, interrupt).await;
    eprintln!("dedicated-sandbox: stopping");
    drop(sandbox);
    Ok(())
}

async fn wait_for_shutdown(
    mut terminate: tokio::signal::unix::Signal,
    mut interrupt: tokio::signal::unix::Signal,
) {
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// Everything a client needs, as JSON (also the source of the text output).
fn summary(sandbox: &Sandbox, startup: Duration) -> Value {
    let world = &sandbox.world;
    let urls = sandbox.urls();
    // Mirrors `Sandbox::kubeconfig_yaml`: one context per Kubernetes user, the first current.
    let contexts: Vec<Value> = world
        .config
        .kube_users
        .iter()
        .map(|u| {
            let namespace = if u.name == "sandbox-dev" {
                "team-a"
            } else {
                "default"
            };
            json!({"name": u.name, "namespace": namespace})
        })
        .collect();
    let users: Vec<Value> = world
        .config
        .users
        .iter()
        .map(|u| {
            json!({
                "username": u.username,
                "password": u.password,
                "api_key": u.api_key,
                "sso_only": u.password.is_none(),
                "orgs": u.orgs,
            })
        })
        .collect();
    let orgs: Vec<Value> = world
        .config
        .orgs
        .iter()
        .map(|o| json!({"name": o.name, "guid": o.guid, "registry_namespaces": o.registry_namespaces}))
        .collect();
    json!({
        "api": urls.api,
        "login": urls.login,
        "uaa": urls.uaa,
        "passcode_url": format!("{}/passcode", urls.login),
        "registry": urls.registry,
        "registry_host": urls.registry_host,
        "kube": urls.kube,
        "iam": urls.iam,
        "icr": icr_summary(sandbox),
        "variants": world.config.variants,
        "ca_file": sandbox.ca_file(),
        "kubeconfig": sandbox.kubeconfig_path(),
        "kube_contexts": contexts,
        "current_context": world.config.kube_users.first().map(|u| u.name.clone()),
        "users": users,
        "orgs": orgs,
        "sso_browser_user": world.config.sso_browser_user,
        "images": world.registry.images(),
        "startup_ms": startup.as_millis() as u64,
        "pid": std::process::id(),
    })
}

/// The public IBM Cloud side: the icr.io front, how to pin its names, accounts and users.
fn icr_summary(sandbox: &Sandbox) -> Value {
    let world = &sandbox.world;
    let ibm = &world.config.ibm;
    let users: Vec<Value> = ibm
        .users
        .iter()
        .map(|u| {
            json!({
                "email": u.email,
                "iam_id": u.iam_id,
                "api_key": u.api_key,
                "sso_only": u.api_key.is_none(),
                "accounts": u.accounts,
            })
        })
        .collect();
    let namespaces: Vec<Value> = ibm
        .namespaces
        .iter()
        .map(|n| json!({"account": n.account, "region": n.region, "name": n.name}))
        .collect();
    json!({
        "address": world.urls.icr_address,
        "domains": dedicated_sandbox::icr::served_domains(&world.config),
        "resolve": sandbox.icr_resolve(),
        "resolve_env": "KUBECTL_DEDICATED_REGISTRY_RESOLVE",
        "us_url": sandbox.icr_url("us.icr.io"),
        "iam_passcode_url": format!("{}/identity/passcode", world.urls.iam),
        "accounts": ibm.accounts.iter().map(|a| json!({"id": a.id, "name": a.name})).collect::<Vec<_>>(),
        "users": users,
        "namespaces": namespaces,
        "images": world.icr.images(),
    })
}

fn render_text(s: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let list = |v: &Value| {
        v.as_array()
            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    line(format!(
        "dedicated-sandbox is up (started in {} ms)",
        s["startup_ms"]
    ));
    line(String::new());
    line(format!(
        "API endpoint (Cloud Controller): {}",
        text(&s["api"])
    ));
    line(format!(
        "Login server (authorization):    {}",
        text(&s["login"])
    ));
    line(format!(
        "UAA (token endpoint):            {}",
        text(&s["uaa"])
    ));
    line(format!(
        "SSO passcode page:               {}",
        text(&s["passcode_url"])
    ));
    line(format!(
        "Registry:                        {} (host {})",
        text(&s["registry"]),
        text(&s["registry_host"])
    ));
    line(format!(
        "Kubernetes API:                  {}",
        text(&s["kube"])
    ));
    line(format!(
        "IAM (for --iam-url):             {}",
        text(&s["iam"])
    ));
    if !list(&s["variants"]).is_empty() {
        line(format!(
            "Variants:                        {}",
            list(&s["variants"])
        ));
    }
    line(format!(
        "CA file:                         {}",
        text(&s["ca_file"])
    ));
    line(format!(
        "Kubeconfig:                      {}",
        text(&s["kubeconfig"])
    ));
    let contexts: Vec<String> = s["kube_contexts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let name = text(&c["name"]);
            let current = if c["name"] == s["current_context"] {
                ", current"
            } else {
                ""
            };
            format!("{name} (namespace {}{current})", text(&c["namespace"]))
        })
        .collect();
    line(format!(
        "Kube contexts:                   {}",
        contexts.join(", ")
    ));
    line(String::new());
    line("Users:".into());
    for u in s["users"].as_array().into_iter().flatten() {
        let mut credentials = match u["password"].as_str() {
            Some(p) => format!("password {p}"),
            None => "SSO only (one-time passcode)".to_string(),
        };
        if let Some(key) = u["api_key"].as_str() {
            credentials.push_str(&format!(", api key {key}"));
        }
        let orgs = match list(&u["orgs"]) {
            o if o.is_empty() => "no org".to_string(),
            o => format!("orgs {o}"),
        };
        line(format!(
            "  {:<24} {credentials}; {orgs}",
            text(&u["username"])
        ));
    }
    line("Orgs:".into());
    for o in s["orgs"].as_array().into_iter().flatten() {
        line(format!(
            "  {:<10} {}  registry namespaces: {}",
            text(&o["name"]),
            text(&o["guid"]),
            list(&o["registry_namespaces"])
        ));
    }
    line(format!("Images:   {}", list(&s["images"])));
    line(String::new());
    render_icr(&s["icr"], &mut line);
    line(String::new());
    line("Try:".into());
    line(format!(
        "  curl --cacert {} {}/v2/info",
        text(&s["ca_file"]),
        text(&s["api"])
    ));
    line(format!(
        "  KUBECONFIG={} kubectl get namespaces",
        text(&s["kubeconfig"])
    ));
    out
}

fn render_icr(icr: &Value, line: &mut impl FnMut(String)) {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    line(format!(
        "icr.io front:                    {} (every icr.io domain, by Host)",
        text(&icr["address"])
    ));
    line(format!(
        "IAM passcode page:               {}",
        text(&icr["iam_passcode_url"])
    ));
    line("Pin the icr.io names to it (the plugin reads this):".into());
    line(format!(
        "  export KUBECTL_DEDICATED_REGISTRY_RESOLVE={}",
        text(&icr["resolve"])
    ));
    line(format!(
        "  e.g. {}/v2/ (curl --resolve us.icr.io:<port>:<ip>)",
        text(&icr["us_url"])
    ));
    line("IBM Cloud users:".into());
    for u in icr["users"].as_array().into_iter().flatten() {
        let credentials = match u["api_key"].as_str() {
            Some(k) => format!("api key {k}"),
            None => "SSO only (IAM one-time passcode)".to_string(),
        };
        let accounts: Vec<String> = u["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        line(format!(
            "  {:<24} {credentials}; accounts {}",
            text(&u["email"]),
            accounts.join(", ")
        ));
    }
    for n in icr["namespaces"].as_array().into_iter().flatten() {
        line(format!(
            "  registry namespace {:<10} region {:<9} account {}",
            text(&n["name"]),
            text(&n["region"]),
            text(&n["account"])
        ));
    }
}
