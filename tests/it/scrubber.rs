//! The stderr scrubber's boundaries, through the library (each nextest test is its own process,
//! so the process-wide registry starts empty). Kills the mutants the end-to-end tests cannot
//! tell apart (see `tests/mutants-missed.md`).

use kubectl_dedicated_registry::redact;

#[test]
fn secrets_of_six_characters_or_more_are_scrubbed_shorter_ones_are_not() {
    redact::register("six-ch");
    assert_eq!(redact::scrub("a six-ch b"), "a <redacted> b");
    redact::register("five5");
    assert_eq!(redact::scrub("a five5 b"), "a five5 b");
    // Every registered form: base64, and the `auth` field form base64("token:<secret>").
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let auth = b64.encode("token:six-ch");
    assert_eq!(
        redact::scrub(&format!("{} {auth}", b64.encode("six-ch"))),
        "<redacted> <redacted>"
    );
    assert_eq!(redact::one_line("x\n  six-ch\ty"), "x <redacted> y");
}
