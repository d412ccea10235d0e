//! Babuino's guest init: runs as PID 1 inside the micro-VM (see crates/babuino).
fn main() {
    eprintln!("babuino-guest: not yet implemented");
    std::process::exit(70);
}
