//! First-load transfer size of the built front end: every file index.html pulls in (wasm, js,
//! css) plus index.html itself, gzip-compressed as the server sends them.
//!
//! Build the front end first (scripts/run.sh or scripts/test.sh do), then
//! `cargo bench -p deprov-server --bench first_load` (goal: at most 300 KB gzip).

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::PathBuf;

fn gzip_len(bytes: &[u8]) -> usize {
    // tower-http's default gzip level is 6 ("default").
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

fn main() {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist");
    let Ok(entries) = std::fs::read_dir(&dist) else {
        eprintln!(
            "No front end in {}: run scripts/run.sh or scripts/test.sh first.",
            dist.display()
        );
        std::process::exit(1);
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("wasm" | "js" | "css" | "html")
                )
        })
        .collect();
    files.sort();
    let (mut raw_total, mut gzip_total) = (0, 0);
    println!("{:<48} {:>10} {:>10}", "file", "bytes", "gzip");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let gzip = gzip_len(&bytes);
        raw_total += bytes.len();
        gzip_total += gzip;
        println!(
            "{:<48} {:>10} {:>10}",
            file.file_name().unwrap().to_string_lossy(),
            bytes.len(),
            gzip
        );
    }
    println!(
        "{:<48} {:>10} {:>10}",
        "first load (all of the above)", raw_total, gzip_total
    );
    println!(
        "first load: {:.1} KB gzip (goal: at most 300 KB)",
        gzip_total as f64 / 1024.0
    );
}
