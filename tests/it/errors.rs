//! Bad input and remote failures: each exits 1 with one actionable `error:` line, and no
//! credential appears in any output, the settings file, or anywhere it was not meant to go.
//! Hints carry the flags in use and suggest close names (profiles, contexts, namespaces, orgs);
//! oversized answers are refused and server text reaches the terminal without control
//! characters.
//! The `finding_NN_*` tests are regressions of the hardening review (issue 9), each failed on
//! the code before its fix.
// See: issue 9, findings 9 and 10; issue 13, points 13 and 14.

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
        // Friction 4: the way out is `login --apikey-env`; the variable alone is never read.
        case(
            "no keyring",
            false,
            "non-interactive use log in with `login --apikey-env`",
            |c| {
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
            },
        ),
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
            // The path once, unquoted (issue 24, friction 11: kube wrote `'"/nonexistent/…"'`).
            "cannot load the Kubernetes configuration (--kubeconfig /nonexistent/kubeconfig): \
             cannot read /nonexistent/kubeconfig: No such file or directory (os error 2); check",
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

/// Issue 13, point 13 (part) and 14 (part): hints carry the flags in use and suggest close names; a
/// moved CA file names the profile setting, without the cause repeated.
#[test]
fn hints_carry_the_flags_and_suggest_close_names() {
    let ctx = TestContext::logged_in();
    let mut cmd = ctx.command(&["status"]);
    cmd.env("KUBECTL_DEDICATED_REGISTRY_PROFILE", "prod");
    let run = ctx
        .run_with(cmd, None)
        .fails_with("run `kubectl dedicated-registry --profile prod login");
    assert!(run.stderr.contains("saved profiles: "), "{}", run.stderr);
    let run = ctx
        .run(
            &[
                "--context",
                "sandbox-admn",
                "-n",
                "team-a",
                "secret",
                "create",
                "x",
            ],
            None,
        )
        .fails_with("no context `sandbox-admn`; did you mean `--context sandbox-admin`?");
    assert!(ctx.tokens().is_empty(), "{}", run.stderr);

    // A CA file that moved after login: the profile setting is named, the cause said once.
    let ctx = TestContext::new();
    let ca = ctx.login_alice_with_ca_copy("ca.pem");
    std::fs::remove_file(&ca).unwrap();
    let run = ctx
        .run(&["token", "list"], None)
        .fails_with("the `ca-file` of profile");
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap();
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "the cause once: {line}"
    );
}

/// Issue 13, point 13: close names are suggested for namespaces (from the cluster's list, before
/// anything is minted) and orgs (from the user's orgs).
#[test]
fn close_namespaces_and_orgs_are_suggested() {
    let ctx = TestContext::logged_in();
    let out = ctx
        .run(&["-n", "team-bb", "secret", "create", "regcred"], None)
        .fails_with("namespace `team-bb` does not exist");
    assert!(
        out.stderr.contains("did you mean `-n team-b`?"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was minted"), "{}", out.stderr);
    assert!(ctx.tokens().is_empty(), "a token was minted");
    // Nothing close: no guess.
    let out = ctx
        .run(&["-n", "production", "secret", "create", "regcred"], None)
        .fails_with("namespace `production` does not exist");
    assert!(!out.stderr.contains("did you mean"), "{}", out.stderr);

    let ctx = TestContext::new();
    let out = ctx
        .login_password(seed::ALICE, seed::ALICE_PASSWORD, "ops-orgg")
        .fails_with("org `ops-orgg` was not found");
    assert!(
        out.stderr.contains("did you mean `--org ops-org`?"),
        "{}",
        out.stderr
    );
    out.leaks_none(&[seed::ALICE_PASSWORD]);
}

/// Issue 9, finding 9: an endless or oversized answer is refused with a clear error instead of
/// being read whole.
#[test]
fn finding_09_response_bodies_are_bounded() {
    let ctx = TestContext::logged_in();
    // A well-formed 17 MiB list: over the list limit.
    let padding = "x".repeat(17 << 20);
    ctx.sandbox.inject(Fault::json(
        Service::Registry,
        "GET",
        "/api/v1/tokens",
        200,
        json!({"tokens": [], "padding": padding}),
    ));
    ctx.run(&["token", "list"], None)
        .fails_with("is larger than");
    ctx.sandbox.clear_faults();
    // A 2 MiB token answer from UAA: over the 1 MiB limit.
    ctx.sandbox.inject(Fault::json(
        Service::Login,
        "POST",
        "/UAALoginServerWAR/oauth/token",
        200,
        json!({"access_token": "x".repeat(2 << 20)}),
    ));
    ctx.run(&["status"], None).fails_with("cannot be refreshed");
}

/// Issue 9, finding 10: terminal control sequences in server text never reach the terminal.
#[test]
fn finding_10_server_text_is_stripped_of_terminal_controls() {
    let ctx = TestContext::logged_in();
    let evil = "Bad credentials\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m";
    ctx.sandbox.inject(Fault::json(
        Service::Login,
        "POST",
        "/UAALoginServerWAR/oauth/token",
        401,
        json!({"error": "unauthorized", "error_description": evil}),
    ));
    let run = ctx
        .login_password(seed::ALICE, "wrong", seed::DEV_ORG)
        .fails_with("Bad credentials");
    for control in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(!run.stderr.contains(control), "{:?}", run.stderr);
    }
    ctx.sandbox.clear_faults();
    ctx.sandbox.inject(Fault::json(
        Service::Registry,
        "GET",
        "/api/v1/tokens",
        200,
        json!({"tokens": [{"_id": "0f6b1c2e-1111-2222-3333-444455556666",
                           "secondary_owner": evil, "readonly": true}]}),
    ));
    let run = ctx.run(&["token", "list", "--all"], None).ok();
    assert!(run.stdout.contains("Bad credentials"), "{}", run.stdout);
    for control in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(!run.stdout.contains(control), "{:?}", run.stdout);
    }
}

/// `-v 6` logs a request that got no answer too, as one line (`METHOD URL failed in N
/// milliseconds: cause`), for the environment's endpoints and for the Kubernetes client alike.
#[test]
fn verbose_6_logs_requests_that_got_no_answer() {
    let ctx = TestContext::logged_in();
    let (port, _in_use) = closed_port();
    let failed = |stderr: &str, path: &str| {
        let line = format!(
            r"(?m)^GET https://127\.0\.0\.1:{port}{path} failed in \d+ milliseconds: \S.*$"
        );
        regex::Regex::new(&line).unwrap().is_match(stderr)
    };
    let api = format!("https://127.0.0.1:{port}");
    let login = ctx
        .run(
            &[
                "-v",
                "6",
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
        .fails_with("cannot reach");
    assert!(failed(&login.stderr, r"/v2/info"), "{}", login.stderr);
    let text = std::fs::read_to_string(ctx.sandbox.kubeconfig_path())
        .unwrap()
        .replace(&ctx.sandbox.urls().kube, &api);
    let path = ctx.sandbox.dir().join("down.kubeconfig");
    std::fs::write(&path, text).unwrap();
    let kubeconfig = path.to_str().unwrap();
    let create = ctx
        .run(
            &[
                "-v",
                "6",
                "--kubeconfig",
                kubeconfig,
                "secret",
                "create",
                "x",
            ],
            None,
        )
        .fails_with("cannot reach the Kubernetes API server");
    assert!(failed(&create.stderr, r"/\S*"), "{}", create.stderr);
}

/// Issue 24, friction 10: a cluster-scoped request that RBAC refuses is not placed "in namespace
/// `team-a`" (the context's default namespace); a single secret still is.
#[test]
fn a_denied_cluster_scoped_list_is_not_placed_in_a_namespace() {
    let ctx = TestContext::logged_in();
    let out = ctx
        .run(
            &[
                "--context",
                "sandbox-dev",
                "secret",
                "create",
                "regcred",
                "-A",
            ],
            None,
        )
        .fails_with("Kubernetes denied list of namespaces cluster-wide:");
    assert!(!out.stderr.contains("in namespace"), "{}", out.stderr);
    assert!(ctx.tokens().is_empty(), "a token was minted");
    ctx.run(
        &[
            "--context",
            "sandbox-viewer",
            "-n",
            "team-b",
            "secret",
            "create",
            "regcred",
        ],
        None,
    )
    .fails_with("Kubernetes denied create of secret `regcred` in namespace `team-b`");
}

/// Issue 24, friction 5 (second half): `login` with a registry that does not answer keeps the
/// login (it may be reachable only from elsewhere) and says so in one warning naming the host;
/// a registry that answers gets no such line (the control).
#[test]
fn login_warns_when_the_registry_does_not_answer() {
    let ctx = TestContext::new();
    crate::common::require_keyring();
    let (port, _in_use) = closed_port();
    let urls = ctx.sandbox.urls().clone();
    let ca = ctx.sandbox.ca_file().display().to_string();
    let closed = format!("127.0.0.1:{port}");
    let login = |registry: &str| {
        ctx.run(
            &[
                "login",
                "--api",
                &urls.api,
                "--registry",
                registry,
                "--ca-file",
                &ca,
                "--username",
                seed::ALICE,
                "--password-stdin",
                "--org",
                seed::DEV_ORG,
            ],
            Some(seed::ALICE_PASSWORD),
        )
        .ok()
    };
    let out = login(&closed);
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: registry "))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains(&format!("registry {closed} does not answer"))
            && warnings[0].contains("the login is saved"),
        "{}",
        out.stderr
    );
    assert!(
        std::fs::read_to_string(ctx.config_file())
            .unwrap()
            .contains(&closed),
        "the login was kept"
    );
    let out = login(&urls.registry_host);
    assert!(!out.stderr.contains("does not answer"), "{}", out.stderr);
}

/// Issue 24, friction 5: a registry that refuses the connection never got the mint request, so
/// the error says it cannot be reached and does not claim a token may exist; a request that
/// reached the registry and lost its answer still says so (the "drops connection" case above).
#[test]
fn a_refused_connection_to_the_registry_claims_no_token_may_exist() {
    let ctx = TestContext::logged_in();
    let (port, _in_use) = closed_port();
    let path = ctx.config_file();
    let settings = std::fs::read_to_string(&path).unwrap();
    let registry = ctx.sandbox.urls().registry_host.clone();
    assert!(settings.contains(&registry), "{settings}");
    std::fs::write(
        &path,
        settings.replace(&registry, &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let out = ctx
        .run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .fails_with(&format!(
            "cannot reach https://127.0.0.1:{port}/api/v1/tokens"
        ));
    assert!(
        !out.stderr.contains("may have been created anyway"),
        "{}",
        out.stderr
    );
    assert!(ctx.tokens().is_empty());
}
