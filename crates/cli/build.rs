//! Link-time facts about libtorch that the binary needs at run time.
//!
//! * rpath: `target/release/phasezoo` must run without `LD_LIBRARY_PATH`, so the folder that
//!   torch-sys linked against (exported as `DEP_TCH_LIBTORCH_LIB`, visible here only because
//!   torch-sys is a direct dependency of this crate) is written into the binary.
//! * libtorch_cuda is reached only through static initializers; the default `--as-needed`
//!   would drop it and the binary would silently run on CPU on a GPU machine.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    // Applies to the binary, its tests and benches (all link libtorch through this crate).
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
