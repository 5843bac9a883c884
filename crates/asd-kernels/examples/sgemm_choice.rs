//! Measures the SGEMM backends on this machine as a process's first use would, and prints the times,
//! the choice, the machine key and the cache file (`cargo run --release -p asd-kernels --example
//! sgemm_choice`).
use asd_kernels::gemm::choice;

fn main() {
    let m = choice::measure();
    for (b, s) in &m.seconds {
        println!("{}: {:.2} ms", b.name(), s * 1e3);
    }
    println!("chosen: {}", m.chosen.name());
    println!("machine key: {}", choice::machine_key());
    match choice::cache_path() {
        Some(p) => println!("cache file: {}", p.display()),
        None => println!("cache file: none (ASD_GEMM_CACHE=off)"),
    }
}
