//! Compiles csrc/shim.cpp against the libtorch that torch-sys links (its headers sit next to
//! the library folder torch-sys exports as DEP_TCH_LIBTORCH_LIB).

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.cpp");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys exports DEP_TCH_LIBTORCH_LIB");
    let include = std::path::Path::new(&lib).join("../include");
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("csrc/shim.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag_if_supported("-w")
        // torch-sys builds libtorch's own C++ with the pre-C++11 ABI switch of that libtorch;
        // PyPI wheels use the new ABI (the default here).
        .compile("pz_device_shim");
    // The shim calls into libtorch_cpu and c10 directly: link them (after the archive).
    println!("cargo:rustc-link-search=native={lib}");
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
