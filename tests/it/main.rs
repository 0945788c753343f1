//! The plugin's integration tests: the real binary against the sandbox over HTTPS, with the real
//! Secret Service and the real kubectl.

mod common;
mod completion;
mod errors;
mod flow;
mod krew;
mod kubeconfig;
mod lifecycle;
mod promises;
mod scrubber;
mod terminal;
mod tokens;
mod verify;
mod writes;
