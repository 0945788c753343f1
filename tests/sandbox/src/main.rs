//! `dedicated-sandbox up`: runs the emulated environment until interrupted.

fn main() {
    eprintln!("dedicated-sandbox: not implemented yet");
    std::process::exit(2);
}
