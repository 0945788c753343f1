//! The plugin's integration tests: the real binary against the sandbox over HTTPS, with the real
//! Secret Service and the real kubectl.

// Tests are tables and scenarios; the function-length rule (clippy.toml) is for src/.
#![allow(clippy::too_many_lines)]

mod benches;
mod common;
mod completion;
mod container_image;
mod controller;
mod deploy;
mod diagnose;
mod doctor;
mod errors;
mod fuzz;
mod icr;
mod image;
mod krew;
mod kubeconfig;
mod kubelet_parsing;
mod layout;
mod leaks;
mod login;
mod main_job;
mod pod;
mod secret_create;
mod secret_delete;
mod secret_fleet;
mod secret_list;
mod secret_render;
mod secret_rotate;
mod secret_verify;
mod secret_watch;
mod signals;
mod soak;
mod terminal;
mod terminating;
mod token;
mod version;
