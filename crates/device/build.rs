//! Compiles the C++ shim against the libtorch that torch-sys links (its headers sit next to the
//! library folder torch-sys exports as DEP_TCH_LIBTORCH_LIB). csrc/shim.cpp, csrc/optim.cpp and csrc/profiler.cpp
//! need only libtorch's headers; csrc/streams.cpp, csrc/graphs.cpp, csrc/jit.cpp,
//! csrc/kernels.cpp and csrc/rows_ce.cpp also need CUDA's, and are built only where they exist (then the cfg
//! `pz_cuda_shim` is set), so a CPU machine builds without any CUDA toolkit.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.cpp");
    println!("cargo:rerun-if-changed=csrc/optim.cpp");
    println!("cargo:rerun-if-changed=csrc/profiler.cpp");
    println!("cargo:rerun-if-changed=csrc/streams.cpp");
    println!("cargo:rerun-if-changed=csrc/graphs.cpp");
    println!("cargo:rerun-if-changed=csrc/jit.cpp");
    println!("cargo:rerun-if-changed=csrc/kernels.cpp");
    println!("cargo:rerun-if-changed=csrc/rows_ce.cpp");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo::rustc-check-cfg=cfg(pz_cuda_shim)");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys exports DEP_TCH_LIBTORCH_LIB");
    let lib = Path::new(&lib);
    let include = lib.join("../include");
    let build = |file: &str| {
        let mut b = cc::Build::new();
        b.cpp(true)
            .std("c++17")
            .file(file)
            .include(&include)
            .include(include.join("torch/csrc/api/include"))
            .define("GLOG_USE_GLOG_EXPORT", None)
            .flag_if_supported("-w");
        b
    };
    build("csrc/shim.cpp").file("csrc/optim.cpp").file("csrc/profiler.cpp").compile("pz_device_shim");
    let cuda = cuda_include(lib);
    if let (Some(cuda), true) = (cuda, lib.join("libc10_cuda.so").exists()) {
        build("csrc/streams.cpp")
            .file("csrc/graphs.cpp")
            .file("csrc/jit.cpp")
            .file("csrc/kernels.cpp")
            .file("csrc/rows_ce.cpp")
            .include(cuda)
            .compile("pz_device_cuda");
        println!("cargo:rustc-cfg=pz_cuda_shim");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
    }
    // The shims call into libtorch_cpu and c10 directly: link them (after the archives).
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}

/// A folder with the complete CUDA headers: $CUDA_HOME, /usr/local/cuda, or the copy the PyPI
/// torch wheel's triton ships (the wheel's own nvidia/cu13/include lacks crt/host_config.h).
fn cuda_include(torch_lib: &Path) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(home) = std::env::var("CUDA_HOME") {
        candidates.push(Path::new(&home).join("include"));
    }
    candidates.push(PathBuf::from("/usr/local/cuda/include"));
    candidates.push(torch_lib.join("../../triton/backends/nvidia/include"));
    candidates
        .into_iter()
        .find(|d| d.join("cuda_runtime_api.h").exists() && d.join("crt/host_config.h").exists())
}
