//! Links libtorch so that CUDA works from a plain binary.
//!
//! tch links libtorch "as needed", and nothing in the binary references
//! libtorch_cuda's symbols directly, so the linker drops it and CUDA then
//! reports unavailable. `--no-as-needed -ltorch` keeps libtorch (which pulls
//! in libtorch_cuda); the runpath finds it without LD_LIBRARY_PATH, while a
//! machine with its own torch can still point LD_LIBRARY_PATH elsewhere.
fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not say where libtorch is: build through scripts/setup.sh (LIBTORCH_USE_PYTORCH=1)");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{lib}");
    println!("cargo:rustc-link-arg=-L{lib}");
    println!("cargo:rustc-link-arg=-ltorch");
}
