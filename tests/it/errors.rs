//! Bad input and remote failures: each exits 1 with one actionable `error:` line, and no
//! credential appears in any output, the settings file, or anywhere it was not meant to go.

use dedicated_sandbox::{Fault, FaultAction, Service, seed};
use serde_json::json;

use crate::common::{Run, TestContext, require_keyring};

type Action = Box<dyn Fn(&TestContext) -> Run>;

struct Case {
    name: &'static str,
    /// Log in as alice (dev-org) first.
    login: bool,
    run: Action,
    /// Text the error line must contain.
    expect: &'static str,
}

fn case(
    name: &'static str,
    login: bool,
    expect: &'static str,
    run: impl Fn(&TestContext) -> Run + 'static,
) -> Case {
    Case {
        name,
        login,
        run: Box::new(run),
        expect,
    }
}

/// A loopback port nothing listens on, and nothing can start listening on while the guard
/// lives: the local end of a connection kept open. (A port probed and released could be
/// re-bound by another test meanwhile.)
fn closed_port() -> (u16, ClosedPort) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    drop(listener);
    let port = client.local_addr().unwrap().port();
    (port, ClosedPort(client, server))
}

/// Keeps the port of [`closed_port`] in use.
struct ClosedPort(
    #[allow(dead_code)] std::net::TcpStream,
    #[allow(dead_code)] std::net::TcpStream,
);

fn create(ctx: &TestContext) -> Run {
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
}

fn cases() -> Vec<Case> {
    vec![
        // Input rejected before any request.
        case(
            "input: secret name",
            false,
            "invalid secret name `Bad_Name`",
            |c| c.run(&["secret", "create", "Bad_Name"], None),
        ),
        case(
            "input: namespace name",
            false,
            "invalid namespace name `Team_A`",
            |c| c.run(&["-n", "Team_A", "secret", "render", "x"], None),
        ),
        case("input: email", false, "invalid e-mail", |c| {
            c.run(&["secret", "create", "x", "--docker-email", "a b@c"], None)
        }),
        case(
            "input: service account name",
            false,
            "invalid serviceaccount name",
            |c| {
                c.run(
                    &["secret", "create", "x", "--service-account", "Not Valid"],
                    None,
                )
            },
        ),
        case(
            "input: image grammar",
            false,
            "invalid image reference `Demo/Hello`",
            |c| c.run(&["pod", "render", "--image", "Demo/Hello"], None),
        ),
        case(
            "image without namespace",
            true,
            "live in a namespace",
            |c| c.run(&["pod", "render", "--image", "hello"], None),
        ),
        case("input: pod name", false, "invalid pod name", |c| {
            c.run(
                &["pod", "render", "--image", "x.io/a/b", "--name", "Bad_Pod"],
                None,
            )
        }),
        case(
            "request timeout",
            true,
            "invalid --request-timeout `soon`",
            |c| {
                c.run(
                    &["--request-timeout", "soon", "secret", "create", "x"],
                    None,
                )
            },
        ),
        case(
            "input: dry-run value",
            false,
            "invalid value 'maybe'",
            |c| c.run(&["secret", "create", "x", "--dry-run=maybe"], None),
        ),
        case("input: plain http api", false, "only https://", |c| {
            c.run(&["login", "--api", "http://api.example.com"], None)
        }),
        case("input: no api", false, "--api is required", |c| {
            c.run(&["login"], None)
        }),
        case("input: registry flag", false, "invalid --registry", |c| {
            let api = c.sandbox.urls().api.clone();
            c.run(
                &["login", "--api", &api, "--registry", "r.example/path"],
                None,
            )
        }),
        case(
            "input: ca file missing",
            false,
            "cannot read --ca-file",
            |c| {
                let api = c.sandbox.urls().api.clone();
                c.run(
                    &[
                        "login",
                        "--api",
                        &api,
                        "--registry",
                        "r.example",
                        "--ca-file",
                        "/nonexistent/ca.pem",
                    ],
                    None,
                )
            },
        ),
        case("not logged in", false, "not logged in", create),
        // Login failures.
        case("wrong password", false, "Bad credentials", |c| {
            c.login(
                &[
                    "--username",
                    seed::ALICE,
                    "--password-stdin",
                    "--org",
                    seed::DEV_ORG,
                ],
                Some("canary-wrong-password-1234\n"),
            )
        }),
        case("empty stdin", false, "standard input is empty", |c| {
            c.login(&["--username", seed::ALICE, "--password-stdin"], Some(""))
        }),
        case("no terminal", false, "no terminal", |c| {
            c.login(&["--username", seed::ALICE], None)
        }),
        case("unknown org", false, "org `nope` was not found", |c| {
            c.login(
                &[
                    "--username",
                    seed::ALICE,
                    "--password-stdin",
                    "--org",
                    "nope",
                ],
                Some(seed::ALICE_PASSWORD),
            )
        }),
        case("no org at all", false, "not a member of any org", |c| {
            c.login(
                &["--username", seed::MALLORY, "--password-stdin"],
                Some(seed::MALLORY_PASSWORD),
            )
        }),
        case("several orgs", false, "choose one with --org", |c| {
            c.login(
                &["--username", seed::ALICE, "--password-stdin"],
                Some(seed::ALICE_PASSWORD),
            )
        }),
        case("untrusted TLS", false, "--ca-file", |c| {
            let api = c.sandbox.urls().api.clone();
            c.run(
                &[
                    "login",
                    "--api",
                    &api,
                    "--registry",
                    "r.example",
                    "--username",
                    seed::ALICE,
                    "--password-stdin",
                ],
                Some(seed::ALICE_PASSWORD),
            )
        }),
        case("unreachable api", false, "cannot reach", |c| {
            let (port, _in_use) = closed_port();
            let api = format!("https://127.0.0.1:{port}");
            c.run(
                &[
                    "login",
                    "--api",
                    &api,
                    "--registry",
                    "r.example",
                    "--username",
                    seed::ALICE,
                    "--password-stdin",
                ],
                Some(seed::ALICE_PASSWORD),
            )
        }),
        case(
            "not a CF endpoint",
            false,
            "is this a Cloud Foundry API endpoint",
            |c| {
                let kube = c.sandbox.urls().kube.clone();
                let ca = c.sandbox.ca_file().display().to_string();
                c.run(
                    &[
                        "login",
                        "--api",
                        &kube,
                        "--registry",
                        "r.example",
                        "--ca-file",
                        &ca,
                        "--username",
                        seed::ALICE,
                        "--password-stdin",
                    ],
                    Some(seed::ALICE_PASSWORD),
                )
            },
        ),
        case("no keyring", false, "no OS keyring is available", |c| {
            let args = c.login_args(&[
                "--username",
                seed::ALICE,
                "--password-stdin",
                "--org",
                seed::DEV_ORG,
            ]);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut cmd = c.command(&refs);
            cmd.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
            c.run_with(cmd, Some(seed::ALICE_PASSWORD))
        }),
        case("corrupt settings", false, "is not valid", |c| {
            let path = c.config_file();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "profiles: [1, 2]\n").unwrap();
            create(c)
        }),
        // Remote failures after login.
        case("login expired", true, "has expired or was revoked", |c| {
            c.sandbox.world.uaa.revoke_refresh_tokens(seed::ALICE);
            create(c)
        }),
        case("UAA down", true, "answered 503", |c| {
            c.sandbox.inject(Fault::json(
                Service::Login,
                "POST",
                "*",
                503,
                json!({"error":"server_error","error_description":"maintenance"}),
            ));
            create(c)
        }),
        case("input: org guid", false, "invalid --org-guid", |c| {
            let api = c.sandbox.urls().api.clone();
            c.run(&["login", "--api", &api, "--org-guid", "not a guid!"], None)
        }),
        case("plain-http login endpoint", false, "not https", |c| {
            c.sandbox.inject(Fault::json(
                Service::CloudController,
                "GET",
                "/v2/info",
                200,
                json!({"authorization_endpoint":"http://127.0.0.1:9/UAALoginServerWAR","token_endpoint":"http://127.0.0.1:9"}),
            ));
            c.login(
                &[
                    "--username",
                    seed::ALICE,
                    "--password-stdin",
                    "--org",
                    seed::DEV_ORG,
                ],
                Some(seed::ALICE_PASSWORD),
            )
        }),
        case("UAA insufficient scope", true, "insufficient_scope", |c| {
            c.sandbox.inject(Fault::json(
                Service::Login,
                "POST",
                "*",
                403,
                json!({"error":"insufficient_scope","error_description":"Insufficient scope for this resource","scope":"cloud_controller.read"}),
            ));
            create(c)
        }),
        case("UAA error page", true, "is failing (HTTP 502)", |c| {
            c.sandbox.inject(Fault::new(
                Service::Login,
                "POST",
                "*",
                FaultAction::Respond {
                    status: 502,
                    content_type: "text/html".into(),
                    body: "<html><body>Bad Gateway</body></html>".into(),
                },
            ));
            create(c)
        }),
        case("UAA error on 200", true, "rest_client_error", |c| {
            c.sandbox.inject(Fault::json(Service::Login, "POST", "*", 200, json!({"error":{"error":"rest_client_error","error_description":"upstream failed"}})));
            create(c)
        }),
        case("registry refuses", true, "CRG0009E", |c| {
            c.sandbox.inject(Fault::json(Service::Registry, "POST", "/api/v1/tokens", 401, json!({"code":"CRG0009E","message":"You are not authorized to access the specified account.","request-id":"1"})));
            create(c)
        }),
        case(
            "minting switched off",
            true,
            "no longer issue registry tokens",
            |c| {
                c.sandbox.inject(Fault::new(
                    Service::Registry,
                    "POST",
                    "/api/v1/tokens",
                    FaultAction::Respond {
                        status: 404,
                        content_type: "text/plain".into(),
                        body: "404 page not found".into(),
                    },
                ));
                create(c)
            },
        ),
        case("registry 500 text", true, "Internal Error", |c| {
            c.sandbox.inject(Fault::new(
                Service::Registry,
                "POST",
                "/api/v1/tokens",
                FaultAction::Respond {
                    status: 500,
                    content_type: "text/plain".into(),
                    body: "Internal Error".into(),
                },
            ));
            create(c)
        }),
        case("registry drops connection", true, "try again", |c| {
            c.sandbox.inject(Fault::new(
                Service::Registry,
                "POST",
                "/api/v1/tokens",
                FaultAction::Drop,
            ));
            create(c)
        }),
        case(
            "kubeconfig missing",
            true,
            "cannot load the Kubernetes configuration",
            |c| {
                c.run(
                    &[
                        "--kubeconfig",
                        "/nonexistent/kubeconfig",
                        "secret",
                        "create",
                        "x",
                    ],
                    None,
                )
            },
        ),
        case(
            "unknown context",
            true,
            "cannot load the Kubernetes configuration",
            |c| c.run(&["--context", "nope", "secret", "create", "x"], None),
        ),
        case(
            "api server down",
            true,
            "cannot reach the Kubernetes API server",
            |c| {
                let (port, _in_use) = closed_port();
                let text = std::fs::read_to_string(c.sandbox.kubeconfig_path())
                    .unwrap()
                    .replace(&c.sandbox.urls().kube, &format!("https://127.0.0.1:{port}"));
                let path = c.sandbox.dir().join("down.kubeconfig");
                std::fs::write(&path, text).unwrap();
                c.run(
                    &[
                        "--kubeconfig",
                        path.to_str().unwrap(),
                        "secret",
                        "create",
                        "x",
                    ],
                    None,
                )
            },
        ),
        case(
            "kube credentials rejected",
            true,
            "rejected the credentials",
            |c| {
                let text = std::fs::read_to_string(c.sandbox.kubeconfig_path())
                    .unwrap()
                    .replace(seed::KUBE_ADMIN_TOKEN, "not-a-valid-token");
                let path = c.sandbox.dir().join("badtoken.kubeconfig");
                std::fs::write(&path, text).unwrap();
                c.run(
                    &[
                        "--kubeconfig",
                        path.to_str().unwrap(),
                        "secret",
                        "create",
                        "x",
                    ],
                    None,
                )
            },
        ),
        case(
            "namespace missing",
            true,
            "namespace `ghost` does not exist",
            |c| c.run(&["-n", "ghost", "secret", "create", "x"], None),
        ),
        case(
            "viewer cannot write",
            true,
            "Kubernetes denied create",
            |c| {
                c.run(
                    &["--context", "sandbox-viewer", "secret", "create", "x"],
                    None,
                )
            },
        ),
        case("unmanaged secret", true, "--overwrite", |c| {
            c.kubectl(&["create", "secret", "generic", "taken", "--from-literal=k=v"]);
            c.run(&["secret", "create", "taken"], None)
        }),
    ]
}

#[test]
fn every_failure_is_one_actionable_line_without_secrets() {
    require_keyring();
    let all = cases();
    assert!(all.len() >= 25, "the table covers at least 25 failures");
    let mut failures = Vec::new();
    for case in all {
        let name = case.name;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case)));
        if let Err(e) = outcome {
            let message = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check(case: Case) {
    {
        let ctx = TestContext::new();
        if case.login {
            ctx.login_alice();
        }
        let run = (case.run)(&ctx);
        assert_eq!(
            run.code, 1,
            "{}: expected exit 1\nstdout: {}\nstderr: {}",
            case.name, run.stdout, run.stderr
        );
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "{}: one error line expected: {}",
            case.name,
            run.stderr
        );
        assert!(
            errors[0].contains(case.expect),
            "{}: {:?} not in {}",
            case.name,
            case.expect,
            errors[0]
        );
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("backtrace"),
            "{}: {}",
            case.name,
            run.stderr
        );

        // No credential anywhere it should not be.
        let mut secrets: Vec<String> = vec![
            seed::ALICE_PASSWORD.into(),
            seed::MALLORY_PASSWORD.into(),
            seed::ALICE_API_KEY.into(),
            "canary-wrong-password-1234".into(),
        ];
        secrets.extend(ctx.tokens().into_iter().map(|t| t.token));
        run.leaks_none(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains("eyJ"),
                "{}: a JWT-looking string in {stream}: {text}",
                case.name
            );
        }
        // Bad input is rejected before any request is sent.
        if !case.login && case.name.starts_with("input:") {
            assert!(
                ctx.sandbox.journal().entries().is_empty(),
                "{}: requests were sent for invalid input",
                case.name
            );
        }
        if let Ok(config) = std::fs::read_to_string(ctx.config_file()) {
            for s in &secrets {
                assert!(
                    !config.contains(s.as_str()),
                    "{}: secret in the settings file",
                    case.name
                );
            }
        }
        // A failed command leaves no live token behind.
        assert!(
            ctx.tokens().iter().all(|t| t.revoked),
            "{}: a live token was left behind",
            case.name
        );
        // Passwords only ever went to the login server; the positive control: the wrong
        // password is found there in its case.
        if case.name == "wrong password" {
            assert!(
                !ctx.sandbox
                    .journal()
                    .containing("canary-wrong-password-1234")
                    .is_empty(),
                "positive control: the wrong password was sent to the login server"
            );
        }
        for s in [seed::ALICE_PASSWORD, "canary-wrong-password-1234"] {
            for entry in ctx.sandbox.journal().containing(s) {
                assert_eq!(
                    entry.service,
                    Service::Login,
                    "{}: password sent to {:?}",
                    case.name,
                    entry.service
                );
            }
        }
    }
}

/// The decoded `.dockerconfigjson` of a Secret printed as YAML or JSON.
fn printed_dockerconfig(stdout: &str) -> serde_json::Value {
    use base64::Engine as _;
    let printed: serde_json::Value = serde_saphyr::from_str(stdout).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(printed["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn verbose_output_never_shows_secrets() {
    use base64::Engine as _;
    let ctx = TestContext::logged_in();
    let host = ctx.sandbox.urls().registry_host.clone();
    let run = ctx
        .run(
            &[
                "-v", "9", "-n", "team-a", "secret", "create", "regcred", "-o", "yaml",
            ],
            None,
        )
        .ok();
    let tokens = ctx.tokens();
    let token = tokens[0].token.clone();
    assert!(
        run.stderr.contains(&tokens[0].id),
        "verbose output names the token id: {}",
        run.stderr
    );
    // In no form: not in clear, not in the `auth` field (base64 of `token:<jwt>`), not inside
    // the base64 `.dockerconfigjson`.
    run.leaks_none(&[&token, seed::ALICE_PASSWORD]);
    run.shows_no_jwt();
    let real_auth = base64::engine::general_purpose::STANDARD.encode(format!("token:{token}"));
    // See: issue 13, point 2. Without --show-token the printed Secret has no `data` at all, so
    // `kubectl apply` of it cannot put a placeholder over a working credential; stderr says so.
    for (format, args) in [
        ("yaml", None),
        (
            "json",
            Some(["-n", "team-a", "secret", "create", "regcred", "-o", "json"]),
        ),
    ] {
        let (stdout, stderr) = match args {
            None => (run.stdout.clone(), run.stderr.clone()),
            Some(args) => {
                let again = ctx.run(&args, None).ok();
                again.leaks_none(&[&token]);
                (again.stdout, again.stderr)
            }
        };
        let printed: serde_json::Value = serde_saphyr::from_str(&stdout).unwrap();
        assert_eq!(printed["kind"], "Secret", "{format}: {stdout}");
        assert!(printed.get("data").is_none(), "{format}: {stdout}");
        assert!(!stdout.contains(&real_auth), "{format}");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("warning: the credential was left out")),
            "{format}: {stderr}"
        );
    }
    // Asked for explicitly, the credential is printed: the positive control of the search.
    let shown = ctx
        .run(
            &[
                "-n",
                "team-a",
                "secret",
                "create",
                "regcred",
                "-o",
                "json",
                "--show-token",
            ],
            None,
        )
        .ok();
    shown.stdout_holds(&token);
    let config = printed_dockerconfig(&shown.stdout);
    assert_eq!(config["auths"][&host]["password"], token.as_str());
    assert_eq!(config["auths"][&host]["auth"], real_auth.as_str());
    assert!(!shown.stderr.contains(&token));
}
