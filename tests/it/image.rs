//! Issue 11, point 6: registry browsing. `image list` reads the registry's `/api/v1/images`
//! and `/api/v1/namespaces` with the login, and `--image` completes from it (repositories,
//! then tags after `:`), cached for a minute, silent on errors.
// See: issue 11 (point 6).

use dedicated_sandbox::docker_registry::DockerRegistry;
use dedicated_sandbox::{Fault, Service, seed};
use serde_json::json;

use crate::common::{Run, TestContext, require_keyring};

fn cells(line: &str) -> Vec<&str> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn image_list_shows_the_orgs_images_like_ibmcloud_cr_images() {
    let ctx = TestContext::logged_in();
    let host = ctx.sandbox.urls().registry_host.clone();
    let registry = &ctx.sandbox.world.registry;
    let v1 = registry.digest("demo/hello", "v1").expect("seeded");
    let latest = registry.digest("demo/hello", "latest").expect("seeded");
    assert!(registry.images().contains(&"ops/tools:1.0".to_string()));

    // The Kubernetes -n is not the registry namespace: `image list` refuses it plainly.
    ctx.run(&["-n", "team-a", "image", "list"], None)
        .fails_with("`image list` does not talk to Kubernetes and takes no `-n`");
    let table = ctx.run(&["image", "list"], None).ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(
        cells(lines[0]),
        ["REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE"]
    );
    assert_eq!(
        lines.len(),
        3,
        "demo/hello's two tags, not the other org's ops/tools: {}",
        table.stdout
    );
    let row = cells(lines[2]);
    assert_eq!(
        row[..3],
        [format!("{host}/demo/hello").as_str(), "v1", &v1[7..19]]
    );
    assert!(
        row[3].ends_with('y') || row[3].contains('y'),
        "an age in years: {}",
        row[3]
    );
    assert!(
        row[4].ends_with(" B") || row[4].ends_with("kB"),
        "a size: {}",
        row[4]
    );
    assert_eq!(
        cells(lines[1])[..3],
        [
            format!("{host}/demo/hello").as_str(),
            "latest",
            &latest[7..19]
        ]
    );

    let wide = ctx.run(&["image", "list", "-o", "wide"], None).ok();
    assert!(
        wide.stdout.contains(&v1) && wide.stdout.lines().next().unwrap().ends_with("VULNERABLE"),
        "{}",
        wide.stdout
    );
    let json = ctx.run(&["image", "list", "-o", "json"], None).ok();
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows[1]["repository"], format!("{host}/demo/hello"));
    assert_eq!(rows[1]["tag"], "v1");
    assert_eq!(rows[1]["digest"], v1.as_str());
    assert_eq!(rows[1]["namespace"], "demo");
    let yaml = ctx.run(&["image", "list", "-o", "yaml"], None).ok();
    assert!(
        yaml.stdout.contains(&format!("digest: {v1}")),
        "{}",
        yaml.stdout
    );
    let names = ctx.run(&["image", "list", "-o", "name"], None).ok();
    assert_eq!(
        names.stdout,
        format!("{host}/demo/hello:latest\n{host}/demo/hello:v1\n")
    );

    // --registry-namespace: checked against /api/v1/namespaces, passed to /api/v1/images.
    ctx.sandbox.journal().clear();
    let scoped = ctx
        .run(
            &[
                "image",
                "list",
                "--registry-namespace",
                "demo",
                "-o",
                "name",
            ],
            None,
        )
        .ok();
    assert_eq!(scoped.stdout, names.stdout);
    let journal = ctx.sandbox.journal().for_service(Service::Registry);
    let namespaces = journal
        .iter()
        .find(|e| e.path == "/api/v1/namespaces")
        .expect("namespaces listed");
    let images = journal
        .iter()
        .find(|e| e.path == "/api/v1/images")
        .expect("images listed");
    assert_eq!(images.query_param("namespace"), Some("demo"));
    assert_eq!(images.query_param("includePrivate"), Some("true"));
    for entry in [namespaces, images] {
        assert!(
            entry.header("organization").is_some(),
            "the Organization header"
        );
        assert!(
            entry
                .header("authorization")
                .is_some_and(|a| a.starts_with("Bearer "))
        );
    }
    let typo = ctx
        .run(&["image", "list", "--registry-namespace", "dmo"], None)
        .fails_with("has no registry namespace `dmo`");
    assert!(
        typo.stderr.contains("did you mean `demo`?"),
        "{}",
        typo.stderr
    );
    ctx.run(&["image", "list", "--registry-namespace", "Demo"], None)
        .fails_with("invalid --registry-namespace");
    // A refusal is one actionable line.
    ctx.sandbox.inject(Fault::json(
        Service::Registry,
        "GET",
        "/api/v1/images",
        403,
        json!({"code": "CRG0020E", "message": "You are not authorized to access the specified resource."}),
    ));
    ctx.run(&["image", "list"], None)
        .fails_with("refused to list images (HTTP 403 CRG0020E)");
    for run in [&table, &wide, &json, &yaml, &names, &scoped, &typo] {
        run.shows_no_jwt();
        run.leaks_none(&[seed::ALICE_PASSWORD]);
    }
}

/// Runs `__complete WORDS` with the cache in `cache`.
fn complete(ctx: &TestContext, cache: &std::path::Path, words: &[&str]) -> Run {
    let mut args = vec!["__complete"];
    args.extend_from_slice(words);
    let mut cmd = ctx.command(&args);
    cmd.env("XDG_CACHE_HOME", cache);
    ctx.run_with(cmd, None).ok()
}

fn image_requests(ctx: &TestContext) -> usize {
    ctx.sandbox
        .journal()
        .for_service(Service::Registry)
        .iter()
        .filter(|e| e.path == "/api/v1/images")
        .count()
}

#[test]
fn image_values_complete_from_the_registry_cached_and_silent_on_errors() {
    let ctx = TestContext::logged_in();
    let cache = ctx.sandbox.dir().join("cache");
    ctx.sandbox.journal().clear();
    // Repositories first; the shell adds no space (a `:tag` may follow).
    let repos = complete(&ctx, &cache, &["pod", "apply", "--image", ""]);
    assert_eq!(repos.stdout, "demo/hello\n:6\n");
    assert_eq!(repos.stderr, "");
    // Then the tags of the repository typed.
    let tags = complete(
        &ctx,
        &cache,
        &["-n", "team-a", "pod", "render", "--image", "demo/hello:"],
    );
    assert_eq!(tags.stdout, "demo/hello:latest\ndemo/hello:v1\n:4\n");
    let one = complete(&ctx, &cache, &["pod", "apply", "--image=demo/hello:v"]);
    assert_eq!(one.stdout, "demo/hello:v1\n:4\n");
    // A full reference completes as one.
    let host = ctx.sandbox.urls().registry_host.clone();
    let full = complete(
        &ctx,
        &cache,
        &["pod", "apply", "--image", &format!("{host}/d")],
    );
    assert_eq!(full.stdout, format!("{host}/demo/hello\n:6\n"));
    let namespaces = complete(&ctx, &cache, &["image", "list", "--registry-namespace", ""]);
    assert_eq!(namespaces.stdout, "demo\n:4\n");
    assert_eq!(image_requests(&ctx), 1, "one request, then the cache");
    let file = cache.join(format!(
        "kubectl-dedicated-registry/images-{}.json",
        ctx.profile
    ));
    let cached = std::fs::read_to_string(&file).expect("the cache file");
    assert!(
        cached.contains(&format!("{host}/demo/hello:v1")),
        "{cached}"
    );
    assert!(!cached.contains("eyJ"), "no token in the cache: {cached}");

    // Older than a minute: asked again. The registry failing: no candidates, nothing on
    // stderr, exit 0.
    let mut stale: serde_json::Value = serde_json::from_str(&cached).unwrap();
    stale["fetched"] = json!(stale["fetched"].as_i64().unwrap() - 120);
    std::fs::write(&file, stale.to_string()).unwrap();
    for _ in 0..3 {
        ctx.sandbox.inject(Fault::json(
            Service::Registry,
            "GET",
            "/api/v1/images",
            500,
            json!({"code": "CRG0000E", "message": "Internal Error"}),
        ));
    }
    let failed = complete(&ctx, &cache, &["pod", "apply", "--image", "demo/"]);
    assert_eq!(failed.stdout, ":4\n");
    assert_eq!(failed.stderr, "");
    assert!(image_requests(&ctx) > 1, "the stale cache was not used");
    ctx.sandbox.clear_faults();
    let again = complete(&ctx, &cache, &["pod", "apply", "--image", "demo/"]);
    assert_eq!(again.stdout, "demo/hello\n:6\n");
    // No login at all: silent too.
    let other = complete(
        &ctx,
        &cache,
        &["--profile", "nobody", "pod", "apply", "--image", ""],
    );
    assert_eq!(other.stdout, ":4\n");
    for run in [&repos, &tags, &failed, &other] {
        run.shows_no_jwt();
    }
}

/// Against distribution itself (no IBM `/api/v1`): `image list` says what the registry lacks,
/// in one line. (Tags, digests and not-found against it are in `pod`.)
#[test]
fn image_list_against_the_real_docker_registry_names_what_is_missing() {
    require_keyring();
    let ctx = TestContext::new();
    let registry = ctx
        .runtime
        .block_on(DockerRegistry::try_start(&ctx.sandbox.pki))
        .expect("Debian's docker-registry must be installed (run .ci/install-deps)");
    let urls = ctx.sandbox.urls();
    let ca = ctx.sandbox.ca_file().display().to_string();
    ctx.run(
        &[
            "login",
            "--api",
            &urls.api,
            "--registry",
            &registry.host(),
            "--ca-file",
            &ca,
            "--username",
            seed::ALICE,
            "--password-stdin",
            "--org",
            seed::DEV_ORG,
        ],
        Some(&format!("{}\n", seed::ALICE_PASSWORD)),
    )
    .ok();
    ctx.run(&["image", "list"], None)
        .fails_with("has no IBM Cloud Container Registry management API");
    let cache = ctx.sandbox.dir().join("cache");
    let silent = complete(&ctx, &cache, &["pod", "apply", "--image", ""]);
    assert_eq!(silent.stdout, ":4\n");
    assert_eq!(silent.stderr, "");
}
