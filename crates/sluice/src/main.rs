//! The `sluice` command line.

fn main() {
    eprintln!("sluice: no commands yet");
    std::process::exit(2);
}
