//! Tauri's build step. The UI is built by `npm run build` in `ui/`; when it has not been built
//! yet (a fresh clone running `cargo clippy`), a placeholder page stands in so the Rust side
//! still compiles, and says how to build the real one.

use std::path::Path;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist");
    let index = dist.join("index.html");
    if !index.exists() {
        let placeholder = "<!doctype html><meta charset=utf-8><title>Tern</title>\
            <p>The Tern UI is not built. Run <code>npm ci &amp;&amp; npm run build</code> in \
            <code>ui/</code>, then rebuild the app.</p>";
        if std::fs::create_dir_all(&dist)
            .and_then(|()| std::fs::write(&index, placeholder))
            .is_err()
        {
            println!(
                "cargo::warning=could not write a placeholder {}",
                index.display()
            );
        }
    }
    println!("cargo::rerun-if-changed=../ui/dist/index.html");
    tauri_build::build();
}
