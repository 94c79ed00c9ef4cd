//! Prints the spec parsed from an object: `cargo run -p ebpf-spec --example dump -- FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: dump FILE");
    match ebpf_spec::CollectionSpec::from_file(&path) {
        Ok(spec) => println!("{spec:#?}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
